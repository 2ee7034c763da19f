"""The worker's state table: the engine's changelog, written per record, read on recovery.

The engine keeps hot state in memory; the Faust table `sla-state` only mirrors it, one key
per record (streams/wire/state.py), so that after a restart or a rebalance each owned
brand is rebuilt from its keys before the agent sees the next event.
"""

from __future__ import annotations

import asyncio
import logging
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

        Records go straight to the producer's batches (Faust's one-at-a-time send buffer
        capped a worker at ~1k state writes/s); Faust flushes the producer before it
        commits input offsets, so a batch's state is on the broker before its offsets."""
        n = self.settings.partitions
        data = self.table.data
        topic = self.table.changelog_topic.get_topic_name()
        send = self.app.producer.send
        written: set[int] = set()
        for brand, record_key, row in engine.take_changes():
            key = encode_state_key(brand, record_key)
            value = None if row is None else encode_state_value(row)
            if value is None:
                if data.pop(key, None) is None:
                    continue  # never written: no tombstone needed
            else:
                data[key] = value
            partition = brand_partition(brand, n)
            delivery = await send(topic, key, value, partition, None, None)
            delivery.add_done_callback(self._written)  # type: ignore[attr-defined]
            written.add(partition)
        if written and self.settings.changelog_end_marker:
            await self._end_marker(topic, written)
        return len(written)

    def _written(self, delivery: asyncio.Future[Any]) -> None:
        """A state write the broker refused would let offsets commit past lost state: the
        worker stops (exit 70) and restarts from what the broker has."""
        if delivery.cancelled() or delivery.exception() is None:
            return
        error = delivery.exception()
        log.error("state write failed: %r; stopping the worker", error)
        self._crashing = asyncio.ensure_future(self.app.crash(error))  # type: ignore[arg-type]

    async def _end_marker(self, topic: str, partitions: set[int]) -> None:
        """Test/demo broker only (docs/tansu.md): the writes are flushed, then each touched
        partition gets one record in a batch of its own, so the end offset tansu reports
        covers every write. The marker's key names no brand: restore ignores it."""
        producer = self.app.producer
        await producer.flush()
        for partition in partitions:
            await producer.send(topic, END_MARKER_KEY, b"", partition, None, None)
        await producer.flush()
