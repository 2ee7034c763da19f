"""Thin Faust agents and timers: decode, hand to the engine, persist, emit metrics.

One agent reads both co-partitioned input topics, so a brand's posts and its audience's
messages meet in one place (concurrency 1: Faust #606 can commit past in-flight events
with more). Events are taken in batches so that each state key is written once per batch.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer
from faust.types import TP

from streams.app import Runtime
from streams.broker import bootstrap_servers
from streams.core.behaviour import ToneDeafPost, apply_crisis_command
from streams.events import (
    MAX_FUTURE_SKEW_SECONDS,
    Rejection,
    Side,
    dead_letter_record,
    decode_crisis_command,
    decode_crisis_share,
    decode_event,
    encode_crisis_share,
)

log = logging.getLogger(__name__)
LAG_INTERVAL_SECONDS = 5.0


def register_agents(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    topics = settings.topics
    input_names = {topics.audience_messages, topics.brand_posts}
    sides = {topics.audience_messages: Side.AUDIENCE, topics.brand_posts: Side.BRAND}
    engine = runtime.engine
    metrics = runtime.metrics

    @app.agent(runtime.input_topic, name="brandpulse-events", concurrency=1)
    async def process_events(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size,
                                              within=settings.batch_within_seconds):
            started = time.perf_counter()
            if runtime.needs_sync:
                runtime.sync_from_table()
            wall = runtime.wall()
            consumed: Counter[str] = Counter()
            observations: list[Any] = []
            for event in batch:
                message = event.message
                consumed[message.topic] += 1
                decoded = decode_event(event.value, sides[message.topic], runtime.brands,
                                       settings.max_event_bytes)
                if isinstance(decoded, Rejection):
                    await _dead_letter(runtime, event, decoded)
                    continue
                observations.extend(engine.ingest(decoded, wall))
            observations.extend(engine.advance(engine.clock.now(wall)))
            runtime.persist()
            for observation in observations:
                if isinstance(observation, ToneDeafPost):
                    await runtime.alerts_topic.send(key=observation.brand.encode(),
                                                    value=observation.alert_record())
            metrics.events_consumed(consumed)
            metrics.record(observations)
            metrics.batch_processed(time.perf_counter() - started)

    @app.timer(settings.sla_check_interval_seconds)
    async def check_sla_deadlines() -> None:
        """Breaches are counted when the deadline passes, even if no event arrives."""
        if runtime.needs_sync:
            runtime.sync_from_table()
        if not engine.clock.started:
            return
        now = engine.clock.now(runtime.wall())
        metrics.record(engine.advance(now))
        runtime.persist()
        runtime.publish_gauges(now)

    @app.timer(LAG_INTERVAL_SECONDS)
    async def export_consumer_lag() -> None:
        consumer = app.consumer
        read_offsets = getattr(consumer, "_read_offset", {})
        for tp in list(consumer.assignment()):
            if tp.topic not in input_names:
                continue
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # the partition may have moved away meanwhile
                continue
            if highwater is None:
                continue
            read = read_offsets.get(tp)
            lag = highwater - (read + 1 if read is not None else 0)
            metrics.set_consumer_lag(tp.topic, tp.partition, max(0, lag))

    def apply_control(value: bytes | None) -> Rejection | None:
        command = decode_crisis_command(value, runtime.wall())
        if isinstance(command, Rejection):
            return command
        apply_crisis_command(engine.behaviour, command)
        return None

    def apply_share(value: bytes | None) -> Rejection | None:
        shared = engine.behaviour.global_crisis
        now = runtime.wall()
        share = decode_crisis_share(value, shared.bucket_seconds, now,
                                    retention_seconds=shared.detector.retention_s)
        if isinstance(share, Rejection):
            return share
        shared.merge(share, not_after=now + MAX_FUTURE_SKEW_SECONDS)
        return None

    @app.task
    async def follow_declared_crises() -> None:
        await _follow_from_start(runtime, topics.control, apply_control)

    if settings.analyse_behaviour:
        @app.timer(settings.behaviour_snapshot_seconds)
        async def snapshot_behaviour() -> None:
            if not runtime.needs_sync:
                runtime.persist_behaviour()

        @app.timer(settings.crisis_share_seconds)
        async def share_crisis_counts() -> None:
            """This worker's audience counts, for every worker's global crisis scope."""
            shared = engine.behaviour.global_crisis
            share = shared.take_share()
            if share is not None:
                await runtime.crisis_shares_topic.send(
                    key=share.source.encode(),
                    value=encode_crisis_share(share, shared.bucket_seconds))

        @app.task
        async def follow_crisis_shares() -> None:
            await _follow_from_start(runtime, topics.crisis_shares, apply_share)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        runtime.on_revoked({tp.partition for tp in revoked if tp.topic in input_names})
        for tp in revoked:
            if tp.topic in input_names:
                metrics.forget_consumer_lag(tp.topic, tp.partition)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        runtime.on_assigned({tp.partition for tp in assigned if tp.topic in input_names})


async def _dead_letter(runtime: Runtime, event: Any, rejection: Rejection) -> None:
    """Bad input is never dropped silently: it goes to the dead-letter topic, counted."""
    message = event.message
    runtime.metrics.rejected_event(rejection.reason.value)
    record = dead_letter_record(event.value, rejection, message.topic, message.partition,
                                message.offset)
    await runtime.dead_letter_topic.send(key=message.key, value=record)


async def _follow_from_start(runtime: Runtime, topic: str,
                             apply: Callable[[bytes | None], Rejection | None]) -> None:
    """Every worker reads the whole topic (no consumer group), from the start, for ever.
    A bad record is never fatal: it is counted and dead-lettered by every worker that reads
    it (so once per worker, and again after a restart; same source topic/offset)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap_servers(runtime.settings.broker),
        group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    rejection = apply(record.value)
                    if rejection is not None:
                        runtime.metrics.rejected_event(rejection.reason.value)
                        log.warning("bad %s record at offset %d: %s", topic, record.offset,
                                    rejection.detail)
                        await runtime.dead_letter_topic.send(key=record.key, value=(
                            dead_letter_record(record.value, rejection, topic,
                                               record.partition, record.offset)))
    finally:
        await consumer.stop()
