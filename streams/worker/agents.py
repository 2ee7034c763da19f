"""Thin Faust agents and timers: decode, hand to the engine, persist, emit metrics.

One agent reads both co-partitioned input topics, so a brand's posts and its audience's
messages meet in one place (concurrency 1: Faust #606 can commit past in-flight events
with more). Events are taken in batches so that each state key is written once per batch.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.types import TP

from streams.core.behaviour import ToneDeafPost
from streams.events import Rejection, RejectReason, Side
from streams.plumbing.broker import bootstrap_servers
from streams.wire import (
    RecordVerifier,
    dead_letter_record,
    decode_input,
    encode_crisis_share,
    sign_record,
    tone_deaf_alert,
)
from streams.worker.health import HEARTBEAT_SECONDS, BrokerWatch, Health
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)
LAG_INTERVAL_SECONDS = 5.0
DRAIN_SECONDS = 30.0  # longest a rebalance waits for the last batch's counts
# Allocations between young collections (Python's default: 700), and the young and middle
# collections between older ones (default 10 each).
GC_THRESHOLDS = (50_000, 20, 20)


def register_agents(app: faust.App, runtime: Runtime) -> Health:
    """Wire the agent, the timers, the followers and the probes; returns the probes."""
    published = AfterDelivery()
    _register_event_agent(app, runtime, published)
    _register_sla_timer(app, runtime, published)
    _register_lag_timer(app, runtime)
    _register_followers(app, runtime)
    return _register_probes(app, runtime, published)


def _input_sides(runtime: Runtime) -> dict[str, Side]:
    """The two co-partitioned input topics and the side each one's events come from."""
    topics = runtime.settings.topics
    return {topics.audience_messages: Side.AUDIENCE, topics.brand_posts: Side.BRAND}


def _register_event_agent(app: faust.App, runtime: Runtime, published: AfterDelivery) -> None:
    """The one agent over both input topics, in batches (each state key written once)."""
    settings = runtime.settings
    sides = _input_sides(runtime)

    @app.agent(runtime.input_topic, name="brandpulse-events", concurrency=1)
    async def process_events(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size,
                                              within=settings.batch_within_seconds):
            try:
                if not runtime.rebuilt.is_set():
                    await runtime.rebuilt.wait()  # never an event of a brand not yet rebuilt
                await _process_batch(runtime, batch, sides, published)
            except BaseException:
                # Stopped or failed mid-batch (a graceful stop cancels the agent here):
                # take_events would acknowledge the whole batch on the way out and the
                # stop's commit would then skip events whose state was never written.
                withhold(batch)
                raise


async def _process_batch(runtime: Runtime, batch: list[Any], sides: dict[str, Side],
                         published: AfterDelivery) -> None:
    """Decode, admit and apply a batch, persist what it changed, send its alerts, and
    publish its counts once its writes are acknowledged."""
    engine, metrics, settings = runtime.engine, runtime.metrics, runtime.settings
    started = time.perf_counter()
    wall = runtime.wall()
    consumed: Counter[str] = Counter()
    observations: list[Any] = []
    # per (topic, partition): last offset and newest event time of the batch
    positions: dict[tuple[str, int], list[Any]] = {}
    assigned = runtime.ownership.assigned
    for event in batch:
        message = event.message
        if message.partition not in assigned:
            # Taken before a rebalance took its partition away: not ours to apply (the
            # brand's state may be gone from here, and a brand re-created from nothing
            # would persist totals from 0). Marked as acknowledged so that Faust never
            # records its offset as processed: the offset stays uncommitted and whoever
            # owns the partition now (this worker again, or another) processes the event
            # from there.
            message.acked = True
            continue
        consumed[message.topic] += 1
        position = positions.setdefault((message.topic, message.partition),
                                        [message.offset, None])
        position[0] = message.offset
        decoded = decode_input(event.value, sides[message.topic], runtime.brands,
                               settings.max_event_bytes)
        if not isinstance(decoded, Rejection):
            decoded = (key_mismatch(message.key, decoded.brand)
                       or engine.admit(decoded, wall) or decoded)
        if isinstance(decoded, Rejection):
            await _dead_letter(runtime, event, decoded)
            continue
        if position[1] is None or decoded.created_at > position[1]:
            position[1] = decoded.created_at
        observations.extend(engine.ingest(decoded, wall))
    observations.extend(engine.advance(wall))
    totals = await runtime.persist()
    for observation in observations:
        if isinstance(observation, ToneDeafPost):
            await runtime.alerts_topic.send(key=observation.brand.encode(),
                                            value=tone_deaf_alert(observation))
    took = time.perf_counter() - started

    def publish() -> None:
        metrics.events_consumed(consumed)
        metrics.publish_totals(totals)
        for (topic, partition), (offset, newest) in positions.items():
            metrics.processed(topic, partition, offset, newest, wall)
        metrics.batch_processed(took)

    published.after(runtime.store.take_deliveries(), publish)


def _register_sla_timer(app: faust.App, runtime: Runtime, published: AfterDelivery) -> None:
    @app.timer(runtime.settings.sla_check_interval_seconds)
    async def check_sla_deadlines() -> None:
        """Breaches are counted when the deadline passes, even if no event arrives; never
        while a rebalance or a recovery is under way (a partition may be moving away)."""
        if runtime.recovering():
            return
        wall = runtime.wall()
        runtime.engine.advance(wall)
        totals = await runtime.persist()
        published.after(runtime.store.take_deliveries(),
                        lambda: runtime.metrics.publish_totals(totals))
        runtime.refresh_gauges(wall)


def _register_lag_timer(app: faust.App, runtime: Runtime) -> None:
    input_names = set(_input_sides(runtime))

    @app.timer(LAG_INTERVAL_SECONDS)
    async def export_consumer_lag() -> None:
        """Lag behind what the agent PROCESSED (metrics.processed), not what Faust read
        ahead into its buffers; the group's committed offset until this worker processed
        anything on a partition."""
        consumer = app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        for tp in list(consumer.assignment()):
            if tp.topic not in input_names:
                continue
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # the partition may have moved away meanwhile
                continue
            if highwater is None:
                continue
            runtime.metrics.update_consumer_lag(tp.topic, tp.partition, highwater,
                                                committed.get(tp))


def _register_followers(app: faust.App, runtime: Runtime) -> None:
    """Every worker folds the whole control topic; with behaviour analysis on, it also
    shares its audience counts and folds its peers' (the global crisis scope)."""
    settings, engine = runtime.settings, runtime.engine
    topics = settings.topics

    def apply_control(value: bytes | None) -> Rejection | None:
        return engine.apply_control(value, runtime.wall())

    def apply_share(value: bytes | None) -> Rejection | None:
        return engine.apply_share(value, runtime.wall())

    @app.task
    async def follow_declared_crises() -> None:
        await _follow_from_start(runtime, topics.control, apply_control)

    if not settings.analyse_behaviour:
        return

    @app.timer(settings.crisis_share_seconds)
    async def share_crisis_counts() -> None:
        """This worker's audience counts, for every worker's global crisis scope."""
        share = engine.take_share()
        if share is not None:
            value = encode_crisis_share(share, engine.share_bucket_seconds)
            await runtime.crisis_shares_topic.send(
                key=share.source.encode(), value=value,
                headers=signed(settings.internal_keys, topics.crisis_shares, value))

    @app.task
    async def follow_crisis_shares() -> None:
        await _follow_from_start(runtime, topics.crisis_shares, apply_share)


def _register_probes(app: faust.App, runtime: Runtime, published: AfterDelivery) -> Health:
    """The broker watch, liveness and readiness, and the partition hand-over callbacks."""
    settings, metrics = runtime.settings, runtime.metrics
    input_names = set(_input_sides(runtime))
    watch = BrokerWatch(bootstrap_servers(settings.broker), settings.app_id,
                        [(t, p) for t in sorted(input_names) for p in range(settings.partitions)],
                        metrics.broker_up)
    health = Health(watch, lambda: len(runtime.ownership.assigned),
                    lambda: bool(app.rebalancing or runtime.recovering()))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # Faust types receivers too narrowly
    async def start_broker_watch(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        """Probing starts at the first assignment: app tasks wait for table recovery."""
        watch.start(app.crash)

    @app.task
    async def watch_broker() -> None:
        """brandpulse_broker_up and readiness; BrokerStateLost stops the worker (exit 75)."""
        watch.start(app.crash)
        await watch.join()  # Faust cancels this task on stop, and so the probe loop

    @app.timer(HEARTBEAT_SECONDS)
    async def heartbeat() -> None:
        health.beat()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # Faust types receivers too narrowly
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        await published.drain()  # counts of brands about to move away land first
        runtime.on_revoked({tp.partition for tp in revoked if tp.topic in input_names})
        for tp in revoked:
            if tp.topic in input_names:
                metrics.forget_consumer_lag(tp.topic, tp.partition)

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # Faust types receivers too narrowly
    async def on_assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        runtime.on_assigned({tp.partition for tp in assigned if tp.topic in input_names})

    return health


Applier = Callable[[bytes | None], Rejection | None]


def signed(keys: tuple[bytes, ...], topic: str, value: bytes) -> list[tuple[str, bytes]] | None:
    """The signature headers of an internal record (none in the explicit unsigned mode)."""
    return sign_record(keys[0], topic, value, time.time()) if keys else None


def tune_garbage_collector() -> None:
    """Call once in a worker process, after start-up and before the first event.

    The worker allocates several tracked objects per event (events, observations, state
    records, samples of each scrape) and keeps a large heap of state; with the default
    thresholds the cyclic collector ran ~30 young collections per 1,000 events and, every
    100, a middle one, and its full collections walk every object the imports created
    (Faust, aiokafka, lexicons). Freezing what exists at start-up takes those out of every
    later collection, and larger thresholds collect the young garbage in fewer, larger
    passes: 15-18 → 2-4 µs of collector time per event in bench/worker_path.py. Nothing
    changes in what is computed; reference counting still frees acyclic garbage at once."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class AfterDelivery:
    """Runs each batch's metric updates once the broker has its state writes, in batch
    order, without holding up the next batch.

    Why after: the counts exported are the persisted totals; exported before their
    transaction is on the broker, a crash could take a counter back down (the restored
    state never saw those events), which Prometheus reads as a reset.
    Why not inline: waiting for the acknowledgements would idle the worker one broker round
    trip per batch. If a write fails, its batch and every later one stay uncounted: the
    state store stops the worker (exit 70) and the restarted worker counts them."""

    def __init__(self) -> None:
        self._last: asyncio.Future[Any] | None = None

    def after(self, deliveries: list[Awaitable[Any]], publish: Callable[[], None]) -> None:
        last = self._last
        if not deliveries and (last is None or last.done()):
            if last is None or (not last.cancelled() and last.exception() is None):
                publish()  # nothing to wait for: no task, no delay
            return
        self._last = asyncio.ensure_future(self._publish(self._last, deliveries, publish))
        self._last.add_done_callback(_retrieved)

    @staticmethod
    async def _publish(previous: asyncio.Future[Any] | None,
                       deliveries: list[Awaitable[Any]],
                       publish: Callable[[], None]) -> None:
        if previous is not None:
            await previous  # raises if an earlier batch's write failed: stay uncounted
        await asyncio.gather(*deliveries)
        publish()

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Wait for every scheduled update (a failed one is the state store's to report),
        at most `timeout` s: a broker that never answers must not stall a rebalance."""
        if self._last is not None and not self._last.done():
            await asyncio.wait([self._last], timeout=timeout)


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A failed write is logged and acted on by the state store; this only marks the
    exception as seen, so asyncio does not report it again at exit."""
    if not task.cancelled():
        task.exception()


def withhold(batch: list[Any]) -> None:
    """Mark a batch's messages as acknowledged without Faust recording them: their offsets
    are never committed, so whoever owns their partitions next processes them again (the
    state says which were applied: docs/metrics.md, "Exactness")."""
    for event in batch:
        event.message.acked = True


def key_mismatch(key: bytes | None, brand: str) -> Rejection | None:
    """A record must be keyed by its brand: the key decides which worker owns it."""
    if key is not None and key == brand.encode():
        return None
    shown = "no key" if key is None else f"key {key[:80]!r}"
    return Rejection(RejectReason.KEY_MISMATCH, f"{shown} differs from brand {brand!r}")


async def _dead_letter(runtime: Runtime, event: Any, rejection: Rejection) -> None:
    """Bad input is never dropped silently: it goes to the dead-letter topic, counted."""
    message = event.message
    runtime.metrics.rejected_event(rejection.reason.value)
    record = dead_letter_record(event.value, rejection, message.topic, message.partition,
                                message.offset)
    await runtime.dead_letter_topic.send(key=message.key, value=record)


async def _follow_from_start(runtime: Runtime, topic: str,
                             apply: Applier) -> None:
    """Every worker reads the whole topic (no consumer group), from the start, for ever.
    A bad record is never fatal: it is counted and dead-lettered by every worker that reads
    it (so once per worker, and again after a restart; same source topic/offset). A record
    is applied only if signed with the internal key (streams/wire/signing.py)."""
    verifier = RecordVerifier(topic, runtime.settings.internal_keys,
                              runtime.settings.max_future_skew_seconds)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers(runtime.settings.broker),
        group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    rejection = (verifier.check(record.partition, record.headers,
                                                record.value, runtime.wall())
                                 or apply(record.value))
                    if rejection is not None:
                        runtime.metrics.rejected_event(rejection.reason.value)
                        log.warning("bad %s record at offset %d: %s", topic, record.offset,
                                    rejection.detail)
                        await runtime.dead_letter_topic.send(key=record.key, value=(
                            dead_letter_record(record.value, rejection, topic,
                                               record.partition, record.offset)))
    finally:
        await consumer.stop()
