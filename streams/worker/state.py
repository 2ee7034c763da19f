"""The worker's state changelog: written in transactions, read back whole before use.

The engine keeps hot state in memory; a compacted Kafka topic, `<app-id>-sla-state-changelog`,
mirrors it with one key per record (streams/wire/state.py), so that after a restart or a
rebalance each owned brand is rebuilt before the agent sees its next event.

Why transactions of our own. A batch changes many records of a brand (messages, posts,
its clock, its totals) and a crash can cut the writes anywhere, leaving part of them on
the broker. Kafka's transactions would fix that but the embedded test broker cannot run
them (docs/tansu.md), so every persist is a transaction in the log itself:

    begin(writer, seq)  records tagged (writer, seq) and tombstones  commit(writer, seq)

per changelog partition, in that order (one partition's writes are ordered). On recovery
`ChangelogReplay` folds a partition's log in order and keeps only committed transactions:
a crash before the commit leaves its transaction out entirely, so the state holds either
all of a batch's effects with their counts (streams/core/totals.py) or none of them, and
the uncommitted events are processed again (their input offsets are committed only after
the producer is flushed). Why no kill can lose or double a count: docs/metrics.md,
"Exactness".

Recovery reads with its own consumer (not Faust's table): each partition to its real end
(past the end a broker reports, until a fetch returns nothing more), one partition at a
time so that memory holds one partition's raw records at most, and reports progress for
the start-up probe.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import faust

from streams.config import Settings, changelog_topic
from streams.core.brand import BrandsConfig
from streams.core.sla_records import RecordTag
from streams.core.totals import FrozenTotals
from streams.engine import Engine
from streams.events import Rejection
from streams.metrics import BrandpulseMetrics
from streams.plumbing.broker import bootstrap_servers
from streams.wire import (
    MARKER_PREFIX,
    MarkerKind,
    decode_marker,
    decode_state_record,
    encode_marker,
    encode_state_key,
    encode_state_value,
    read_txn,
    state_key_brand,
)
from streams.worker.ownership import brand_partition

log = logging.getLogger(__name__)
#: Records per fetch while recovering, and bytes per partition fetch: large, since
#: recovery reads one partition from its start to its end.
RECOVERY_MAX_RECORDS = 20_000
RECOVERY_FETCH_BYTES = 16 * 1024 * 1024
#: After the reported end, how long a fetch may wait for records past it (tansu reports
#: the start of its last stored batch + 1) before the partition counts as read.
RECOVERY_TAIL_WAIT_MS = 200
LEGACY_END_MARKER = b"\x1fend"  # written by earlier versions after each batch; no state
YIELD_EVERY = 5_000  # records decoded between two yields to the event loop (heartbeat)

Rows = list[tuple[int, RecordTag, str, list[Any]]]
Txn = tuple[int, int]  # (writer, seq)


class ChangelogReplay:
    """Folds one changelog partition, read in offset order, into its committed records.

    Rules (the log is written as described in the module docstring):
    - a record tagged (w, s) is committed once a commit(w, s') with s' >= s follows;
    - a tombstone belongs to the transaction whose begin came last, while that one is
      open; outside any open transaction (old, compacted history) it applies at once;
    - an untagged (version 2) record applies at once;
    - what is still pending at the end of the log was never committed: it is dropped.
    Log compaction keeps each writer's newest commit, which comes after all its records,
    so a compacted log folds to the same state."""

    __slots__ = ("committed", "dropped", "open", "pending", "records")

    def __init__(self) -> None:
        self.records: dict[bytes, bytes] = {}
        self.committed: dict[int, int] = {}  # writer -> newest committed seq
        self.pending: dict[int, list[tuple[int, bytes, bytes | None]]] = {}
        self.open: Txn | None = None
        self.dropped = 0

    def add(self, key: bytes | None, value: bytes | None) -> Rejection | None:
        """One record, in offset order; why it cannot be used, if so."""
        if key is None or key == LEGACY_END_MARKER:
            return None
        if key.startswith(MARKER_PREFIX):
            marker = decode_marker(key, value)
            if isinstance(marker, Rejection):
                return marker
            kind, writer, seq = marker
            if kind is MarkerKind.BEGIN:
                self.open = (writer, seq)
            else:
                self._commit(writer, seq)
            return None
        if value is None:
            if self.open is not None:
                writer, seq = self.open
                self.pending.setdefault(writer, []).append((seq, key, None))
            else:
                self._apply(key, None)
            return None
        txn = read_txn(value)
        if isinstance(txn, Rejection):
            return txn
        if txn is None or txn[1] <= self.committed.get(txn[0], -1):
            self._apply(key, value)
        else:
            self.pending.setdefault(txn[0], []).append((txn[1], key, value))
        return None

    def _commit(self, writer: int, seq: int) -> None:
        if seq > self.committed.get(writer, -1):
            self.committed[writer] = seq
        if self.open is not None and self.open[0] == writer and self.open[1] <= seq:
            self.open = None
        waiting = self.pending.pop(writer, None)
        if not waiting:
            return
        later = []
        for record_seq, key, value in waiting:
            if record_seq <= seq:
                self._apply(key, value)
            else:
                later.append((record_seq, key, value))
        if later:
            self.pending[writer] = later

    def _apply(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self.records.pop(key, None)
        else:
            self.records[key] = value

    def finish(self) -> dict[bytes, bytes]:
        """The committed records; counts what was never committed in `dropped`."""
        self.dropped = sum(len(p) for p in self.pending.values())
        self.pending.clear()
        return self.records


class Rebuilder(Protocol):
    """What recovery hands the committed state to (the worker's runtime)."""

    def rebuild_brand(self, brand: str, rows: Rows) -> None: ...

    def partition_rebuilt(self, partition: int) -> None: ...


@dataclass
class RecoveryProgress:
    """What the start-up probe reports (read from the HTTP thread)."""

    partitions: int = 0  # changelog partitions to read in this recovery
    partitions_done: int = 0
    records_expected: int = 0  # end - start offsets of those partitions, as reported
    records_read: int = 0
    brands_rebuilt: int = 0
    started: float = 0.0  # monotonic
    finished: float | None = None  # monotonic; None while running
    completed_once: bool = False  # a recovery of a whole assignment has finished

    def detail(self) -> dict[str, Any]:
        end = self.finished if self.finished is not None else time.monotonic()
        return {"partitions": self.partitions, "partitions_done": self.partitions_done,
                "records_read": self.records_read, "records_expected": self.records_expected,
                "brands_rebuilt": self.brands_rebuilt,
                "seconds": round(end - self.started, 3) if self.started else 0.0}


class StateStore:
    """Writes what the engine changed, in transactions; reads partitions back on recovery."""

    def __init__(self, app: faust.App, settings: Settings, brands: BrandsConfig,
                 metrics: BrandpulseMetrics) -> None:
        self.app = app
        self.settings = settings
        self.brands = brands
        self.metrics = metrics
        self.topic_name = changelog_topic(settings.app_id)
        self.topic = app.topic(self.topic_name, key_serializer="raw", value_serializer="raw",
                               partitions=settings.partitions, compacting=True,
                               deleting=False, replicas=settings.replication_factor)
        self.writer = secrets.randbits(62)  # this process: a restart is a new writer
        self.seq = 0
        self.progress = RecoveryProgress()
        self._declared = False
        self._crashing: asyncio.Future[Any] | None = None
        self._deliveries: list[Awaitable[Any]] = []
        self._partitions: dict[str, int] = {}  # brand -> its partition (murmur2 once)

    async def declare(self) -> None:
        """Create the compacted changelog topic if it does not exist (idempotent)."""
        await self.topic.maybe_declare()

    # -- writing ---------------------------------------------------------------------------
    async def persist(self, engine: Engine) -> dict[str, FrozenTotals]:
        """Write each record changed since the last call once, as one transaction per
        touched partition: begin marker, records, tombstones, then the commit marker in a
        produce batch of its own.

        Records go straight into produce batches of the producer, one open batch per
        partition, each handed over whole (`send_batch`) when full and at the end: one
        delivery future per produce batch instead of one per record. Faust flushes the
        producer before it commits input offsets, so a batch's state and its commit are on
        the broker before its offsets. Returns the totals written (frozen as written), and
        `take_deliveries` the delivery futures: counts are published once their transaction
        is on the broker. A producer without `create_batch` (another client) gets one
        `send` per record.

        The commit goes alone in the last produce batch so that a broker reporting the
        start of its last batch + 1 as the end offset (tansu) still reports an end past
        every committed write."""
        changes = engine.take_changes()
        n = self.settings.partitions
        topic = self.topic_name
        client = self.app.producer
        producer = getattr(client, "_ensure_producer", lambda: None)()
        if producer is not None and not hasattr(producer, "create_batch"):
            producer = None
        partitions = self._partitions
        open_batches: dict[int, Any] = {}
        totals: dict[str, FrozenTotals] = {}
        txn: Txn | None = None
        for brand, record_key, row in changes:
            if record_key[1] is RecordTag.TOTALS:
                totals[brand] = engine.totals(brand)
            if txn is None:
                self.seq += 1
                txn = (self.writer, self.seq)
            key = encode_state_key(brand, record_key)
            value = None if row is None else encode_state_value(row, txn)
            partition = partitions.get(brand)
            if partition is None:
                partition = partitions[brand] = brand_partition(brand, n)
            if partition not in open_batches:
                open_batches[partition] = None
                await self._append(producer, open_batches, topic, partition,
                                   *encode_marker(MarkerKind.BEGIN, *txn))
            await self._append(producer, open_batches, topic, partition, key, value)
        if txn is None:
            return totals
        commit = encode_marker(MarkerKind.COMMIT, *txn)
        for partition in list(open_batches):
            batch = open_batches[partition]
            if batch is not None:
                await self._send_batch(producer, batch, topic, partition)
            if producer is None:
                await client.flush()  # the commit only after every write of the transaction
                delivery = await client.send(topic, commit[0], commit[1], partition, None, None)
                self._track(delivery)
            else:
                batch = producer.create_batch()
                batch.append(key=commit[0], value=commit[1], timestamp=None)
                await self._send_batch(producer, batch, topic, partition)
        return totals

    async def _append(self, producer: Any, open_batches: dict[int, Any], topic: str,
                      partition: int, key: bytes, value: bytes | None) -> None:
        if producer is None:
            delivery = await self.app.producer.send(topic, key, value, partition, None, None)
            self._track(delivery)
            return
        batch = open_batches.get(partition)
        if batch is None:
            batch = open_batches[partition] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            await self._send_batch(producer, batch, topic, partition)
            batch = open_batches[partition] = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)  # an empty batch takes it

    async def _send_batch(self, producer: Any, batch: Any, topic: str, partition: int
                          ) -> None:
        batch.close()
        self._track(await producer.send_batch(batch, topic, partition=partition))

    def _track(self, delivery: Any) -> None:
        delivery.add_done_callback(self._written)
        self._deliveries.append(delivery)

    def take_deliveries(self) -> list[Awaitable[Any]]:
        """Delivery futures of the state writes since the last call."""
        deliveries, self._deliveries = self._deliveries, []
        return deliveries

    def _written(self, delivery: asyncio.Future[Any]) -> None:
        """A state write the broker refused would let offsets commit past lost state: the
        worker stops (exit 70) and restarts from what the broker has."""
        if delivery.cancelled() or delivery.exception() is None:
            return
        error = delivery.exception()
        log.error("state write failed: %r; stopping the worker", error)
        self._crashing = asyncio.ensure_future(self.app.crash(error))  # type: ignore[arg-type]

    # -- reading ---------------------------------------------------------------------------
    async def recover(self, partitions: Iterable[int], wall: Callable[[], float],
                      rebuilder: Rebuilder) -> int:
        """Read each changelog partition from its start to its real end, fold it to its
        committed records, and hand them to `rebuilder` brand by brand, then say the
        partition is whole; returns the records restored. Cancel it to abandon (a new
        rebalance): a partition is whole only once `partition_rebuilt` was called."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        wanted = sorted(set(partitions))
        progress = self.progress
        progress.partitions, progress.partitions_done = len(wanted), 0
        progress.records_read = progress.records_expected = progress.brands_rebuilt = 0
        progress.started, progress.finished = time.monotonic(), None
        if not wanted:
            progress.finished = time.monotonic()
            return 0
        if not self._declared:
            await self.declare()
            self._declared = True
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers(self.settings.broker), group_id=None,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_partition_fetch_bytes=RECOVERY_FETCH_BYTES,
            fetch_max_bytes=RECOVERY_FETCH_BYTES, isolation_level="read_uncommitted")
        await consumer.start()
        restored = 0
        try:
            tps = [TopicPartition(self.topic_name, p) for p in wanted]
            consumer.assign(tps)
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            progress.records_expected = sum(max(0, ends[tp] - starts[tp]) for tp in tps)
            for tp in tps:
                consumer.pause(*tps)
                consumer.resume(tp)
                await consumer.seek_to_beginning(tp)
                replay = await self._read_partition(consumer, tp, ends[tp])
                records = replay.finish()
                if replay.dropped:
                    log.info("changelog partition %d: %d records of an uncommitted "
                             "transaction dropped", tp.partition, replay.dropped)
                del replay
                async for brand, rows in self._decode(records, wall()):
                    rebuilder.rebuild_brand(brand, rows)
                    restored += len(rows)
                    progress.brands_rebuilt += 1
                rebuilder.partition_rebuilt(tp.partition)
                progress.partitions_done += 1
        finally:
            await consumer.stop()
        progress.finished = time.monotonic()
        return restored

    async def _read_partition(self, consumer: Any, tp: Any, end: int) -> ChangelogReplay:
        replay = ChangelogReplay()
        progress = self.progress

        while True:
            past_end = await consumer.position(tp) >= end
            batches = await consumer.getmany(
                tp, timeout_ms=RECOVERY_TAIL_WAIT_MS if past_end else 1_000,
                max_records=RECOVERY_MAX_RECORDS)
            records = batches.get(tp, [])
            if not records and past_end:
                return replay
            for record in records:
                rejection = replay.add(record.key, record.value)
                if rejection is not None:
                    self._rejected(record.key, rejection)
            progress.records_read += len(records)
            await asyncio.sleep(0)

    async def _decode(self, records: dict[bytes, bytes], wall: float
                      ) -> AsyncIterator[tuple[str, Rows]]:
        """The committed records of one partition, decoded and checked, one brand at a
        time; `records` is emptied as it goes. Brand by brand, so that memory holds one
        brand's decoded rows at most besides the raw records (a worker's RSS after recovery
        stays near what it was before the crash)."""
        not_after = wall + self.settings.max_future_skew_seconds
        by_brand: dict[str, list[tuple[bytes, bytes]]] = {}
        while records:
            key, value = records.popitem()
            brand = state_key_brand(key)
            if brand is not None:
                by_brand.setdefault(brand, []).append((key, value))
        decoded_count = 0
        while by_brand:
            brand, raw = by_brand.popitem()
            rows: Rows = []
            for key, value in raw:
                decoded_count += 1
                if decoded_count % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # keep the heartbeat, probes and scrapes going
                decoded = decode_state_record(key, value, self.brands, not_after)
                if isinstance(decoded, Rejection):
                    self._rejected(key, decoded)
                    continue
                (_, hour, tag, record_id, row), _ = decoded
                rows.append((hour, tag, record_id, row))
            del raw
            if rows:
                yield brand, rows

    def _rejected(self, key: bytes | None, rejection: Rejection) -> None:
        self.metrics.state_rejected(rejection.reason.value)
        log.warning("state record %r skipped: %s", (key or b"")[:80], rejection.detail)
