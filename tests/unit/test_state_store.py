"""StateStore.persist and ChangelogReplay: transactions in the changelog, read back whole.

A fake producer stands in for aiokafka (`create_batch`/`send_batch`, or `send` only) and
appends to per-partition logs, so what reaches the changelog can be folded back exactly as
recovery folds it, cut wherever a crash may cut it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest

from streams.config import settings_from
from streams.core.sla_records import RecordTag
from streams.core.totals import Count, Timing
from streams.engine import Engine
from streams.events import Rejection, Side, SocialEvent
from streams.metrics import BrandpulseMetrics
from streams.sources.synthetic import scenario_brands
from streams.wire import (
    MARKER_PREFIX,
    MarkerKind,
    encode_marker,
    encode_state_key,
    encode_state_value,
    state_key_brand,
)
from streams.worker.ownership import brand_partition
from streams.worker.state import ChangelogReplay, StateStore
from tests.unit.test_state_restore import restore

BRANDS = scenario_brands()
START = 1_780_000_000.0
TOPIC = "brandpulse-sla-state-changelog"
Record = tuple[bytes, bytes | None]


@dataclass
class FakeBatch:
    capacity: int
    records: list[Record] = field(default_factory=list)
    closed: bool = False

    def append(self, *, key: bytes, value: bytes | None, timestamp: Any) -> object | None:
        if self.closed or len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


class BatchProducer:
    """aiokafka's batch API: what was sent, per partition, batch by batch, in order."""

    def __init__(self, capacity: int, error: Exception | None = None) -> None:
        self.capacity = capacity
        self.error = error
        self.sent: list[tuple[int, list[Record]]] = []

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.capacity)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int
                         ) -> asyncio.Future[None]:
        assert topic == TOPIC and batch.closed
        self.sent.append((partition, list(batch.records)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.error is None:
            done.set_result(None)
        else:
            done.set_exception(self.error)
        return done

    def log(self, partition: int) -> list[Record]:
        return [r for p, batch in self.sent if p == partition for r in batch]


class SendOnly:
    """A client without the batch API: one `send` per record."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes, bytes | None]] = []

    async def send(self, topic: str, key: bytes, value: bytes | None, partition: int,
                   timestamp: Any, headers: Any) -> asyncio.Future[None]:
        self.sent.append((partition, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def flush(self) -> None:
        return None


def store_with(inner: Any) -> StateStore:
    app = mock.Mock()
    app.producer = mock.Mock(spec=["send", "flush", "_ensure_producer"])
    app.producer._ensure_producer.return_value = inner
    if isinstance(inner, SendOnly):
        app.producer.send = inner.send
        app.producer.flush = inner.flush
    return StateStore(app, settings_from({}), BRANDS, BrandpulseMetrics())


def mention(i: int, brand: str = "healthy", at: float = START) -> SocialEvent:
    return SocialEvent(Side.AUDIENCE, f"m{i}", brand, "twitter", f"user{i}",
                       "@HealthyCo where is my order?", at + i)


def reply(i: int, brand: str = "healthy", at: float = START) -> SocialEvent:
    return SocialEvent(Side.BRAND, f"r{i}", brand, "twitter", "HealthyCo",
                       "Sorry, we are on it. ^AB", at + i + 30, in_reply_to=f"m{i}")


def feed(engine: Engine, events: list[SocialEvent]) -> None:
    for event in events:
        engine.ingest(event, event.created_at)


def fold(log: list[Record]) -> dict[bytes, bytes]:
    replay = ChangelogReplay()
    for key, value in log:
        assert replay.add(key, value) is None
    return replay.finish()


async def test_a_persist_is_one_transaction_per_partition_with_the_totals_last() -> None:
    engine = Engine(BRANDS)
    # m0..m9 then replies to them in the same batch: each audience record changes twice
    feed(engine, [mention(i) for i in range(10)] + [reply(i) for i in range(10)])
    producer = BatchProducer(capacity=4)
    store = store_with(producer)
    totals = await store.persist(engine)
    assert set(totals) == {"healthy"}
    assert totals["healthy"].count(Count.AUDIENCE_MESSAGES, "twitter", "true") == 10
    partition = brand_partition("healthy", 6)
    log = producer.log(partition)
    assert {p for p, _ in producer.sent} == {partition}
    begin, *records, totals_record, commit = log
    assert begin[0].startswith(MARKER_PREFIX + b"begin") and commit[0].startswith(
        MARKER_PREFIX + b"commit")
    assert producer.sent[-1] == (partition, [commit])  # the commit alone in the last batch
    assert totals_record[0] == encode_state_key("healthy", (0, RecordTag.TOTALS, "totals"))
    keys = [k for k, _ in records]
    assert len(keys) == len(set(keys)) == 21  # 10 messages, 10 replies, 1 clock
    assert all(len(batch) <= 4 for _, batch in producer.sent)
    assert len(store.take_deliveries()) == len(producer.sent)
    assert store.take_deliveries() == []
    assert await store.persist(engine) == {}  # nothing changed since: nothing written
    assert len(producer.sent) == 7  # 23 records in batches of 4, then the commit alone


async def test_every_cut_of_the_log_folds_to_a_committed_state() -> None:
    """Wherever a crash cuts the writes, recovery sees all of a batch or none of it."""
    engine = Engine(BRANDS)
    producer = BatchProducer(capacity=3)
    store = store_with(producer)
    partition = brand_partition("healthy", 6)
    snapshots = [fold([])]  # the committed state after each persist
    for chunk in range(4):
        feed(engine, [mention(10 * chunk + i) for i in range(5)]
             + [reply(10 * chunk + i) for i in range(0, 5, 2)])
        await store.persist(engine)
        snapshots.append(fold(producer.log(partition)))
    log = producer.log(partition)
    for cut in range(len(log) + 1):
        assert fold(log[:cut]) in snapshots, f"a cut after record {cut} left a partial state"


async def test_a_transaction_cut_short_is_dropped_even_when_a_new_writer_follows() -> None:
    """The restarted worker's transactions come after the dead one's partial writes: those
    must stay out, tombstones included."""
    old = encode_state_value(["twitter", START, True, None, False, False, None], (7, 1))
    key = encode_state_key("healthy", (int(START // 3600), RecordTag.AUDIENCE, "m1"))
    newer = encode_state_value(["twitter", START, True, START + 60, False, False, None], (7, 2))
    orphan = encode_state_key("healthy", (int(START // 3600), RecordTag.ORPHAN, "r9"))
    log: list[Record] = [
        encode_marker(MarkerKind.BEGIN, 7, 1), (key, old),
        (orphan, encode_state_value([START], (7, 1))), encode_marker(MarkerKind.COMMIT, 7, 1),
        encode_marker(MarkerKind.BEGIN, 7, 2), (key, newer), (orphan, None),  # cut: no commit
        encode_marker(MarkerKind.BEGIN, 9, 1),
        (encode_state_key("healthy", (0, RecordTag.CLOCK, "clock")),
         encode_state_value([START, START], (9, 1))),
        encode_marker(MarkerKind.COMMIT, 9, 1),
    ]
    replay = ChangelogReplay()
    for k, v in log:
        assert replay.add(k, v) is None
    records = replay.finish()
    assert records[key] == old and orphan in records
    assert replay.dropped == 2


def test_a_compacted_log_folds_to_the_same_state() -> None:
    """Compaction keeps each key's newest record (and each writer's newest commit)."""
    rng = random.Random(3)
    log: list[Record] = []
    keys = [encode_state_key("healthy", (0, RecordTag.SCHEDULED, f"p{i}")) for i in range(6)]
    for writer in (11, 12):
        for seq in range(1, 30):
            log.append(encode_marker(MarkerKind.BEGIN, writer, seq))
            for key in rng.sample(keys, 3):
                value = None if rng.random() < 0.3 else encode_state_value(
                    ["twitter", START, START + 3600, "a", f"{writer}-{seq}"], (writer, seq))
                log.append((key, value))
            log.append(encode_marker(MarkerKind.COMMIT, writer, seq))
    newest = {key: i for i, (key, _) in enumerate(log)}
    compacted = [record for i, record in enumerate(log) if newest[record[0]] == i]
    assert len(compacted) < len(log) / 4
    assert fold(compacted) == fold(log)


def test_forged_markers_and_values_are_refused() -> None:
    replay = ChangelogReplay()
    assert isinstance(replay.add(MARKER_PREFIX + b"commit\x1f5", b"[3,6,1]"), Rejection)
    assert isinstance(replay.add(MARKER_PREFIX + b"commit\x1f5", b"{}"), Rejection)
    assert isinstance(replay.add(b"healthy\x1f0\x1fc\x1fclock", b"[3,x]"), Rejection)
    assert replay.add(b"\x1fend", b"") is None  # what earlier versions wrote: ignored
    assert replay.finish() == {}


@pytest.mark.parametrize("seed", range(40))
async def test_a_crash_anywhere_neither_loses_nor_doubles_a_count(seed: int) -> None:
    """The worker processes batches, persists each and commits input offsets only after
    its writes are flushed; it dies with its log cut anywhere, and the next worker
    recovers, replays from the committed offset and carries on. The totals end exactly
    as in an uninterrupted run (duplicates aside: the replay is counted there)."""
    rng = random.Random(seed)
    events: list[SocialEvent] = []
    for i in range(60):
        events.append(mention(i))
        if rng.random() < 0.6:
            events.append(reply(i))
    events.sort(key=lambda e: e.created_at)
    batches = [events[i:i + 7] for i in range(0, len(events), 7)]
    wall = events[-1].created_at + 60
    partition = brand_partition("healthy", 6)

    reference = Engine(BRANDS)
    feed(reference, events)
    expected = reference.totals("healthy")

    first, producer = Engine(BRANDS), BatchProducer(capacity=4)
    store = store_with(producer)
    committed_batches = 0  # input offsets committed after each flushed batch
    crash_batch = rng.randrange(len(batches))
    for n, batch in enumerate(batches):
        feed(first, batch)
        await store.persist(first)
        if n == crash_batch:
            break
        committed_batches = n + 1 if rng.random() < 0.7 else committed_batches
    log = producer.log(partition)
    cut = rng.randrange(len(log) + 1)  # the broker kept this much of it
    # offsets are committed only once a batch's writes are all on the broker (flushed)
    flushed = sum(1 for k, _ in log[:cut] if k.startswith(MARKER_PREFIX + b"commit"))
    committed_batches = min(committed_batches, flushed)
    recovered = restore(fold(log[:cut]), wall, BRANDS)
    producer.sent = [(partition, log[:cut])]
    second = store_with(producer)
    for batch in batches[committed_batches:]:
        feed(recovered, batch)
        await second.persist(recovered)
    got = recovered.totals("healthy")
    for key, value in expected.counts.items():
        if key[0] != Count.DUPLICATES:
            assert got.counts.get(key) == value, key
    assert got.timings == expected.timings
    assert got.count(Count.DUPLICATES) >= 0
    assert got.timing(Timing.FIRST_RESPONSE, "twitter", "default") is not None
    # and what the next recovery reads is what the second worker holds
    again = restore(fold(producer.log(partition)), wall, BRANDS)
    assert again.totals("healthy").counts == got.counts
    assert again.backlog("healthy", wall) == recovered.backlog("healthy", wall)


async def test_brands_on_several_partitions_each_get_their_own_transaction() -> None:
    brands = [b.name for b in BRANDS][:3]
    engine = Engine(BRANDS)
    feed(engine, [SocialEvent(Side.AUDIENCE, f"m{b}{i}", b, next(iter(BRANDS.get(b).platforms)),
                              "u", "hello", START + i) for b in brands for i in range(3)])
    producer = BatchProducer(capacity=100)
    store = store_with(producer)
    assert set(await store.persist(engine)) == set(brands)
    partitions = {brand_partition(b, 6) for b in brands}
    for partition in partitions:
        log = producer.log(partition)
        assert log[0][0].startswith(MARKER_PREFIX + b"begin")
        assert log[-1][0].startswith(MARKER_PREFIX + b"commit")
        assert all(brand_partition(state_key_brand(k) or "", 6) == partition
                   for k, _ in log[1:-1])


async def test_a_client_without_the_batch_api_gets_the_same_records_one_by_one() -> None:
    events = [mention(i) for i in range(6)] + [reply(i) for i in range(3)]
    batched, one_by_one = Engine(BRANDS), Engine(BRANDS)
    feed(batched, events)
    feed(one_by_one, events)
    producer, client = BatchProducer(capacity=2), SendOnly()
    store_a, store_b = store_with(producer), store_with(client)
    await store_a.persist(batched)
    await store_b.persist(one_by_one)
    partition = brand_partition("healthy", 6)
    assert fold(producer.log(partition)).keys() == fold(
        [(k, v) for _, k, v in client.sent]).keys()
    assert len(store_b.take_deliveries()) == len(client.sent)


async def test_a_refused_batch_stops_the_worker() -> None:
    engine = Engine(BRANDS)
    feed(engine, [mention(0)])
    store = store_with(BatchProducer(capacity=10, error=RuntimeError("broker refused")))
    crash: Callable[..., Any] = mock.AsyncMock()
    store.app.crash = crash
    await store.persist(engine)
    deliveries = store.take_deliveries()
    for _ in range(3):
        await asyncio.sleep(0)
    crash.assert_called()
    assert all(isinstance(d, asyncio.Future) and d.exception() is not None
               for d in deliveries)
