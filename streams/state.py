"""The worker's state table: the engine's changelog, written per record, read on recovery.

The engine keeps hot state in memory; the Faust table `sla-state` only mirrors it, one key
per record (streams/wire/state.py), so that after a restart or a rebalance each owned
brand is rebuilt from its keys before the agent sees the next event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import faust

from streams.config import Settings
from streams.core.brand import BrandsConfig
from streams.core.sla import RecordTag
from streams.engine import Engine
from streams.events import Rejection
from streams.metrics import BrandpulseMetrics
from streams.ownership import brand_partition
from streams.wire import decode_state, encode_state_key, encode_state_value, state_key_brand

log = logging.getLogger(__name__)
END_MARKER_KEY = b"\x1fend"  # no brand: `state_key_brand` gives None, restore skips it
TABLE_NAME = "sla-state"

Rows = list[tuple[int, RecordTag, str, list[Any]]]


class StateStore:
    """Writes what the engine changed to the table's changelog; reads brands back."""

    def __init__(self, app: faust.App, settings: Settings, brands: BrandsConfig,
                 metrics: BrandpulseMetrics) -> None:
        self.app = app
        self.settings = settings
        self.brands = brands
        self.metrics = metrics
        self.table = app.Table(TABLE_NAME, key_type=bytes, value_type=bytes,
                               partitions=settings.partitions)
        self._crashing: asyncio.Future[Any] | None = None
        self._deliveries: list[Awaitable[Any]] = []
        self._partitions: dict[str, int] = {}  # brand -> its partition (murmur2 once)

    def read(self, missing: set[str], wall: float) -> dict[str, Rows]:
        """The decoded rows of each brand in `missing`, from the recovered table.
        Unreadable records are counted and skipped."""
        not_after = wall + self.settings.max_future_skew_seconds
        rows: dict[str, Rows] = {b: [] for b in missing}
        for key, value in list(self.table.data.items()):
            if value is None or state_key_brand(key) not in missing:
                continue
            decoded = decode_state(key, value, self.brands, not_after)
            if isinstance(decoded, Rejection):
                self.metrics.state_rejected(decoded.reason.value)
                log.warning("state record %r skipped: %s", key[:80], decoded.detail)
                continue
            brand, hour, tag, record_id, row = decoded
            rows[brand].append((hour, tag, record_id, row))
        return rows

    async def persist(self, engine: Engine) -> int:
        """Write each record changed since the last call once to the table's changelog:
        the cost follows what the batch changed, never what is already stored. Returns
        the number of partitions written.

        Records go straight into produce batches of the producer, one open batch per
        partition, each handed over whole (`send_batch`) when full and at the end: one
        delivery future per produce batch instead of one per record (the per-record
        `send` path of Faust and aiokafka cost ~20 µs a record, more than the encoding).
        Each record is still its own key and value, in the order `take_changes` gives them
        within a partition. Faust flushes the producer before it commits input offsets, so
        a batch's state is on the broker before its offsets. `take_deliveries` hands out
        the delivery futures, for whatever must wait until the state is on the broker
        (the batch's metrics). A producer without `create_batch` (another client) gets
        one `send` per record."""
        n = self.settings.partitions
        data = self.table.data
        topic = self.table.changelog_topic.get_topic_name()
        client = self.app.producer
        producer = getattr(client, "_ensure_producer", lambda: None)()
        if producer is not None and not hasattr(producer, "create_batch"):
            producer = None
        partitions = self._partitions
        open_batches: dict[int, Any] = {}
        for brand, record_key, row in engine.take_changes():
            key = encode_state_key(brand, record_key)
            value = None if row is None else encode_state_value(row)
            if value is None:
                if data.pop(key, None) is None:
                    continue  # never written: no tombstone needed
            else:
                data[key] = value
            partition = partitions.get(brand)
            if partition is None:
                partition = partitions[brand] = brand_partition(brand, n)
            if producer is None:
                delivery = await client.send(topic, key, value, partition, None, None)
                delivery.add_done_callback(self._written)  # type: ignore[attr-defined]
                self._deliveries.append(delivery)
                open_batches[partition] = None
                continue
            batch = open_batches.get(partition)
            if batch is None:
                batch = open_batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full
                await self._send_batch(producer, batch, topic, partition)
                batch = open_batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes it
        if producer is not None:
            for partition, batch in open_batches.items():
                await self._send_batch(producer, batch, topic, partition)
        if open_batches and self.settings.changelog_end_marker:
            await self._end_marker(topic, set(open_batches))
        return len(open_batches)

    async def _send_batch(self, producer: Any, batch: Any, topic: str, partition: int
                          ) -> None:
        batch.close()
        delivery = await producer.send_batch(batch, topic, partition=partition)
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

    async def _end_marker(self, topic: str, partitions: set[int]) -> None:
        """Test/demo broker only (docs/tansu.md): each touched partition gets one record
        that starts a produce batch of its own, after every write, so the end offset tansu
        reports (start of its last batch + 1) covers every write. The marker's key names no
        brand: restore ignores it.

        aiokafka's `send_batch` queues a batch behind the partition's pending one without
        waiting for any broker round trip; Faust's flush before each offset commit delivers
        it. Later writes may join the marker's batch: they come after it, and their own
        marker follows them. Without `send_batch` (another client) the writes are flushed
        first, two round trips per batch."""
        client = self.app.producer
        producer = getattr(client, "_ensure_producer", lambda: None)()
        if producer is None or not hasattr(producer, "create_batch"):
            await client.flush()
            for partition in partitions:
                delivery = await client.send(topic, END_MARKER_KEY, b"", partition, None, None)
                self._deliveries.append(delivery)
            await client.flush()
            return
        for partition in partitions:
            batch = producer.create_batch()
            batch.append(key=END_MARKER_KEY, value=b"", timestamp=None)
            await self._send_batch(producer, batch, topic, partition)
