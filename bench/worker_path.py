"""CPU per event of the worker's own path, stage by stage, without Kafka or Faust's stream.

Drives the code the agent (streams/worker/agents.py) runs per batch with the live traffic of
bench/live.py (events stamped "now", 100 brands, one hot brand at 50 %, replies 1-5 s
later), on a simulated wall clock advancing at `--rate` events/s in batches of
`--batch-seconds` (the agent's `batch_within_seconds`). Every stage is the worker's own
code, timed per batch with perf_counter and reported in µs per event:

    decode      decode_input (streams/wire)
    admit       key_mismatch + engine.admit
    ingest      engine.ingest (SLA book, clock, behaviour analysis)
    advance     engine.advance
    persist     streams/state.StateStore.persist minus the broker: take_changes, key and
                value encoding, the table write, the partition, and aiokafka's producer
                path up to its accumulator (metadata wait and sender stubbed out)
    ack         AfterDelivery.after, then the writes acknowledged (aiokafka resolving each
                delivery future) and their callbacks run, the metrics below excluded
    metrics     what `publish` does once the writes are acknowledged: events_consumed,
                record (Tally + dispatch + label lookups), processed, batch_processed
    tick        runtime.refresh_gauges once per simulated second (snapshots), per event
    render      one full /metrics render as a plain scrape gets it (streams/plumbing/web.py) per
                simulated second, per event

The same brands file, traffic seed and clock make two runs (two commits) comparable; the
absolute numbers are those of a quiet core and leave Faust's own per-event cost out.

    python bench/worker_path.py [--events 30000] [--rate 2500] [--brands 100]
                                [--hot-share 0.5] [--batch-seconds 0.05] [--behaviour on|off]
                                [--profile FILE.pstats] [--default-gc]
                                [--gc-threshold A,B,C] [--compare-render]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

from _common import LiveTraffic, brand_names, write_brands

from streams.config import load_brands, settings_from
from streams.events import Rejection, Side

STAGES = ("decode", "admit", "ingest", "advance", "persist", "ack", "metrics", "tick",
          "render")


class _GcClock:
    """Time spent in the cyclic garbage collector (included in the stages it interrupts)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.counts = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.counts[info["generation"]] += 1

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)


async def _producer() -> Any:
    """A real aiokafka producer, never started: its metadata wait and partition check are
    stubbed, and the accumulator is emptied after each batch (as its sender would)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.producer.message_accumulator import MessageBatch

    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")

    async def no_wait(topic: str) -> None:
        return None

    producer.client._wait_on_metadata = no_wait  # type: ignore[method-assign]
    producer._partition = lambda topic, partition, *rest: partition  # type: ignore[method-assign]
    accumulator = producer._message_accumulator

    async def wait_drain(batch: Any, timeout: float | None = None) -> None:
        """A full or pending batch is taken by the sender and acknowledged at once."""
        pending = accumulator._batches.get(batch.tp)
        if pending and batch in pending:
            pending.remove(batch)
            _acknowledge([batch])

    MessageBatch.wait_drain = wait_drain  # type: ignore[method-assign]
    return producer


def _acknowledge(batches: Any) -> None:
    for batch in batches:
        batch.done(base_offset=0)


class _FaustProducer:
    """Faust's aiokafka Producer wrapper (the worker's `app.producer`) around `producer`."""

    def __init__(self, producer: Any) -> None:
        from faust.transport.drivers.aiokafka import Producer

        self.inner = producer
        self.wrapper = Producer.__new__(Producer)
        self.wrapper._send_on_produce_message = lambda **kw: None  # type: ignore[attr-defined]
        self.wrapper.allow_headers = True  # type: ignore[attr-defined]
        self.wrapper._ensure_producer = lambda: producer  # type: ignore[method-assign]

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        from faust.transport.drivers.aiokafka import Producer

        return await Producer.send(self.wrapper, *args, **kwargs)

    def _ensure_producer(self) -> Any:
        return self.inner

    def drain(self) -> None:
        """Resolve and drop what the accumulator holds, as a broker acknowledgement would."""
        accumulator = self.inner._message_accumulator
        for batches in accumulator._batches.values():
            _acknowledge(batches)
        accumulator._batches.clear()


async def run(args: argparse.Namespace) -> dict[str, float]:
    from prometheus_client.exposition import choose_encoder, generate_latest

    from streams.engine import Engine
    from streams.metrics import BrandpulseMetrics
    from streams.worker import agents
    from streams.worker.agents import AfterDelivery, key_mismatch
    from streams.worker.gauges import GaugeFeed
    try:
        from streams.metrics import TextRenderer
    except ImportError:  # before the text renderer
        TextRenderer = None  # type: ignore[assignment,misc]
    from streams.wire import decode_input
    from streams.worker.state import StateStore

    names = brand_names(args.brands)
    tmp = Path(tempfile.mkdtemp(prefix="bench-worker-path-"))
    brands = load_brands(write_brands(tmp / "brands.toml", names))
    settings = settings_from({}, analyse_behaviour=args.behaviour == "on")
    topics = settings.topics
    sides = {topics.audience_messages: Side.AUDIENCE, topics.brand_posts: Side.BRAND}
    engine = Engine(brands, analyse_behaviour=settings.analyse_behaviour)
    metrics = BrandpulseMetrics()
    metrics.initialise(sorted(sides), brands.get)
    metrics.brand_counters.fresh_seconds = 0  # no zeros held for new brands
    feed = GaugeFeed(engine, brands, settings.sla_check_interval_seconds)
    metrics.attach_brand_snapshots(feed.snapshots)
    producer = _FaustProducer(await _producer())
    app = mock.Mock()
    app.producer = producer
    store = StateStore(app, settings, brands, metrics)
    published = AfterDelivery()
    # what /metrics runs for a plain scrape (streams/plumbing/web.py MetricsRenderer)
    encoder, _ = choose_encoder("")
    render = TextRenderer() if TextRenderer is not None and encoder is generate_latest \
        else encoder

    traffic = LiveTraffic(names, hot_share=args.hot_share)
    per_batch = max(1, round(args.rate * args.batch_seconds))
    start_wall = time.time()
    spent = dict.fromkeys(STAGES, 0.0)
    events = 0
    next_tick = start_wall + 1.0
    clock = time.perf_counter
    offsets: Counter[int] = Counter()
    tune = getattr(agents, "tune_garbage_collector", None)
    if tune is not None and not args.default_gc:
        tune()  # as the worker does before its first event
    if args.gc_threshold:
        gc.set_threshold(*(int(v) for v in args.gc_threshold.split(",")))
    gc_time = _GcClock()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    while events < args.events:
        wall = start_wall + events / args.rate
        batch = []
        for i in range(per_batch):
            (topic, key, value), _reply = traffic.next(wall + i / args.rate)
            batch.append((topic, key, value))
        wall = start_wall + (events + per_batch) / args.rate
        consumed: Counter[str] = Counter()
        observations: list[Any] = []
        positions: dict[tuple[str, int], list[Any]] = {}
        t0 = clock()
        decoded_batch = []
        for topic, key, value in batch:
            decoded_batch.append((topic, key, decode_input(
                value, sides[topic], brands, settings.max_event_bytes)))
        t1 = clock()
        admitted = []
        for topic, key, decoded in decoded_batch:
            if not isinstance(decoded, Rejection):
                decoded = key_mismatch(key, decoded.brand) or engine.admit(decoded, wall) \
                    or decoded
            admitted.append((topic, decoded))
        t2 = clock()
        for topic, decoded in admitted:
            consumed[topic] += 1
            offsets[0] += 1
            position = positions.setdefault((topic, 0), [offsets[0], None])
            position[0] = offsets[0]
            if isinstance(decoded, Rejection):
                raise SystemExit(f"bench event rejected: {decoded}")
            if position[1] is None or decoded.created_at > position[1]:
                position[1] = decoded.created_at
            observations.extend(engine.ingest(decoded, wall))
        t3 = clock()
        observations.extend(engine.advance(wall))
        t4 = clock()
        totals = await store.persist(engine)
        t5 = clock()

        def publish(consumed: Counter[str] = consumed, totals: Any = totals,
                    positions: dict[tuple[str, int], list[Any]] = positions,
                    wall: float = wall, took: float = t5 - t0) -> None:
            started = clock()
            metrics.events_consumed(consumed)
            metrics.publish_totals(totals)
            for (topic, partition), (offset, newest) in positions.items():
                metrics.processed(topic, partition, offset, newest, wall)
            metrics.batch_processed(took)
            spent["metrics"] += clock() - started

        metrics_before = spent["metrics"]
        published.after(store.take_deliveries(), publish)
        producer.drain()  # the broker acknowledges the batch's writes
        for _ in range(3):  # delivery callbacks, then the batch's metrics
            await asyncio.sleep(0)
        t7 = clock()
        for name, took in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
                              strict=False):
            spent[name] += took
        spent["ack"] += t7 - t5 - (spent["metrics"] - metrics_before)
        events += per_batch
        if wall >= next_tick:
            next_tick += 1.0
            t7 = clock()
            feed.refresh(wall)
            t8 = clock()
            body = render(metrics.registry)
            t9 = clock()
            spent["tick"] += t8 - t7
            spent["render"] += t9 - t8
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    gc_time.stop()
    result = {name: spent[name] / events * 1e6 for name in STAGES}
    result["total"] = sum(result.values())
    result["gc"] = gc_time.seconds / events * 1e6
    result["gc_collections"] = gc_time.counts
    result["events"] = events
    result["state_transactions"] = store.seq
    result["page_bytes"] = len(body) if events else 0
    if args.compare_render:
        for name, fn in (("generate_latest", generate_latest), ("TextRenderer", render),
                         ("collect only", lambda r: [m.samples for m in r.collect()])):
            for collecting in (True, False):
                if not collecting:
                    gc.disable()
                t = clock()
                for _ in range(5):
                    fn(metrics.registry)
                gc.enable()
                print(f"  {name} (gc {'on' if collecting else 'off'}): "
                      f"{(clock() - t) / 5 * 1e3:.1f} ms per page")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=2500.0)
    parser.add_argument("--brands", type=int, default=100)
    parser.add_argument("--hot-share", type=float, default=0.5)
    parser.add_argument("--batch-seconds", type=float, default=0.05)
    parser.add_argument("--behaviour", choices=("on", "off"), default="on")
    parser.add_argument("--profile", help="write a cProfile of the loop to this file")
    parser.add_argument("--gc-threshold", help="gc.set_threshold for the run, e.g. 50000,20,20")
    parser.add_argument("--default-gc", action="store_true",
                        help="leave the collector as Python sets it (no tune_garbage_collector)")
    parser.add_argument("--compare-render", action="store_true",
                        help="time generate_latest against the worker's renderer at the end")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(f"{int(result['events'])} events at {args.rate:g}/s simulated, {args.brands} brands, "
          f"hot {args.hot_share:.0%}, batches of {args.batch_seconds:g} s, behaviour "
          f"{args.behaviour}")
    for name in (*STAGES, "total"):
        print(f"  {name:8s} {result[name]:8.1f} µs/event")
    print(f"  of which in the garbage collector: {result['gc']:.1f} µs/event "
          f"(collections per generation: {result['gc_collections']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
