"""StateStore.persist: each changed record written once, as its own key, in produce batches.

A fake producer stands in for aiokafka (`create_batch`/`send_batch`, or `send` only) and a
dict for the Faust table, so what reaches the changelog can be read back record by record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from streams.config import settings_from
from streams.engine import Engine
from streams.events import Side, SocialEvent
from streams.metrics import BrandpulseMetrics
from streams.ownership import brand_partition
from streams.sources.synthetic import scenario_brands
from streams.state import END_MARKER_KEY, StateStore
from streams.wire import decode_state, state_key_brand

BRANDS = scenario_brands()
START = 1_780_000_000.0
TOPIC = "app-sla-state-changelog"


@dataclass
class FakeBatch:
    capacity: int
    records: list[tuple[bytes, bytes | None]] = field(default_factory=list)
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
        self.sent: list[tuple[int, list[tuple[bytes, bytes | None]]]] = []

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


def store_with(inner: Any, end_marker: bool = False) -> tuple[StateStore, dict[bytes, bytes]]:
    data: dict[bytes, bytes] = {}
    table = mock.Mock(data=data)
    table.changelog_topic.get_topic_name.return_value = TOPIC
    app = mock.Mock()
    app.Table.return_value = table
    app.producer = mock.Mock(spec=["send", "flush", "_ensure_producer"])
    app.producer._ensure_producer.return_value = inner
    if isinstance(inner, SendOnly):
        app.producer.send = inner.send
        app.producer.flush = inner.flush
    settings = settings_from({}, changelog_end_marker=end_marker)
    return StateStore(app, settings, BRANDS, BrandpulseMetrics()), data


def mention(i: int, brand: str = "healthy", at: float = START) -> SocialEvent:
    return SocialEvent(Side.AUDIENCE, f"m{i}", brand, "twitter", f"user{i}",
                       "@HealthyCo where is my order?", at + i)


def reply(i: int, brand: str = "healthy", at: float = START) -> SocialEvent:
    return SocialEvent(Side.BRAND, f"r{i}", brand, "twitter", "HealthyCo",
                       "Sorry, we are on it. ^AB", at + i + 30, in_reply_to=f"m{i}")


def feed(engine: Engine, events: list[SocialEvent]) -> None:
    for event in events:
        engine.ingest(event, event.created_at)


def records_of(producer: BatchProducer) -> list[tuple[int, bytes, bytes | None]]:
    return [(p, k, v) for p, batch in producer.sent for k, v in batch]


async def test_each_changed_record_is_written_once_in_per_partition_batches() -> None:
    engine = Engine(BRANDS)
    # m0..m9 then replies to them in the same batch: each audience record changes twice
    feed(engine, [mention(i) for i in range(10)] + [reply(i) for i in range(10)])
    producer = BatchProducer(capacity=4)
    store, data = store_with(producer)
    assert await store.persist(engine) == 1
    written = records_of(producer)
    keys = [k for _, k, _ in written]
    assert len(keys) == len(set(keys)) == 21  # 10 messages, 10 replies, 1 clock
    assert all(p == brand_partition("healthy", 6) for p, _, _ in written)
    assert all(len(batch) <= 4 for _, batch in producer.sent)
    assert len(producer.sent) == 6  # full batches handed over as they fill
    assert {k: v for _, k, v in written} == data  # the table holds what was sent
    for key, value in data.items():  # the final (answered) state, decodable
        decoded = decode_state(key, value, BRANDS, START + 3600)
        assert not isinstance(decoded, Exception) and not hasattr(decoded, "reason")
    assert len(store.take_deliveries()) == 6 and store.take_deliveries() == []


async def test_a_second_persist_writes_only_what_changed_since() -> None:
    engine = Engine(BRANDS)
    feed(engine, [mention(i) for i in range(5)])
    producer = BatchProducer(capacity=100)
    store, _ = store_with(producer)
    await store.persist(engine)
    producer.sent.clear()
    assert await store.persist(engine) == 0
    assert producer.sent == []
    feed(engine, [reply(2)])
    await store.persist(engine)
    tags = sorted(k.split(b"\x1f")[2] for _, k, _ in records_of(producer))
    assert tags == [b"a", b"c", b"p"]  # the answered message, the clock, the reply


async def test_brands_on_several_partitions_and_end_markers_after_their_writes() -> None:
    brands = [b.name for b in BRANDS][:3]
    engine = Engine(BRANDS)
    feed(engine, [SocialEvent(Side.AUDIENCE, f"m{b}{i}", b, next(iter(BRANDS.get(b).platforms)),
                              "u", "hello", START + i) for b in brands for i in range(3)])
    producer = BatchProducer(capacity=100)
    store, _ = store_with(producer, end_marker=True)
    partitions = {brand_partition(b, 6) for b in brands}
    assert await store.persist(engine) == len(partitions)
    seen_marker: set[int] = set()
    for partition, batch in producer.sent:
        if batch == [(END_MARKER_KEY, b"")]:
            seen_marker.add(partition)
        else:
            assert partition not in seen_marker  # no write after its partition's marker
            assert all(brand_partition(state_key_brand(k) or "", 6) == partition
                       for k, _ in batch)
    assert seen_marker == partitions


async def test_a_client_without_the_batch_api_gets_the_same_records_one_by_one() -> None:
    events = [mention(i) for i in range(6)] + [reply(i) for i in range(3)]
    batched, one_by_one = Engine(BRANDS), Engine(BRANDS)
    feed(batched, events)
    feed(one_by_one, events)
    producer, client = BatchProducer(capacity=2), SendOnly()
    store_a, data_a = store_with(producer)
    store_b, data_b = store_with(client)
    assert await store_a.persist(batched) == await store_b.persist(one_by_one) == 1
    assert records_of(producer) == client.sent
    assert data_a == data_b
    assert len(store_b.take_deliveries()) == len(client.sent)


async def test_a_refused_batch_stops_the_worker() -> None:
    engine = Engine(BRANDS)
    feed(engine, [mention(0)])
    store, _ = store_with(BatchProducer(capacity=10, error=RuntimeError("broker refused")))
    crash: Callable[..., Any] = mock.AsyncMock()
    store.app.crash = crash
    await store.persist(engine)
    (delivery,) = store.take_deliveries()
    for _ in range(3):
        await asyncio.sleep(0)
    crash.assert_called_once()
    assert isinstance(delivery, asyncio.Future) and delivery.exception() is not None
