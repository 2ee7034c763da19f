"""What the agents and timers of one worker share, built from small parts.

    engine      all owned brands' state (streams/engine.py), the only door to the core
    ownership   assigned partitions, so owned brands (streams/worker/ownership.py)
    store       the state changelog: persist changes, recover brands (streams/worker/state.py)
    feed        latest snapshot per brand for /metrics (streams/worker/gauges.py)
    views       what /api serves (streams/worker/api.py)
    metrics     every metric (streams/metrics/worker.py)

The runtime only sequences them: a rebalance releases brands everywhere at once, a
recovery rebuilds the missing ones from whole changelog partitions before their events
are processed, a tick renews snapshots, gauges and views.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import socket
import time
import uuid
from typing import Any

import faust

from streams.config import Settings
from streams.core.brand import BrandsConfig
from streams.core.totals import FrozenTotals
from streams.engine import Engine
from streams.metrics import BrandpulseMetrics
from streams.worker.api import ApiViews
from streams.worker.gauges import GaugeFeed
from streams.worker.health import Health
from streams.worker.lean_faust import RawBytes
from streams.worker.ownership import Ownership
from streams.worker.state import StateStore

log = logging.getLogger(__name__)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim): recovery's
    raw records and decoded rows are freed between long-lived state, and without this the
    worker keeps their peak as its RSS. Elsewhere than glibc, nothing to do."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


class Runtime:
    """One worker's engine, state table, ownership, snapshots and topics."""

    def __init__(self, app: faust.App, settings: Settings, brands: BrandsConfig,
                 metrics: BrandpulseMetrics) -> None:
        self.app = app
        self.settings = settings
        self.brands = brands
        self.metrics = metrics
        # This process's name in the counts it shares for the global crisis scope: a
        # restarted worker is a new source (see streams/core/shared_crisis.py).
        self.crisis_source = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.engine = Engine(brands, analyse_behaviour=settings.analyse_behaviour,
                             crisis_source=self.crisis_source,
                             max_future_skew_seconds=settings.max_future_skew_seconds)
        topics = settings.topics

        def raw_topic(*names: str, partitions: int = 1) -> faust.TopicT:
            """Bytes in, bytes out: every codec is in streams.wire."""
            return app.topic(*names, key_serializer="raw", value_serializer="raw",
                             partitions=partitions, replicas=settings.replication_factor)

        self.input_topic = app.topic(topics.audience_messages, topics.brand_posts,
                                     schema=RawBytes(), partitions=settings.partitions,
                                     replicas=settings.replication_factor)
        self.dead_letter_topic = raw_topic(topics.dead_letter)
        self.alerts_topic = raw_topic(topics.alerts)
        self.crisis_shares_topic = raw_topic(topics.crisis_shares)
        self.store = StateStore(app, settings, brands, metrics)
        self.ownership = Ownership(brands, settings.partitions)
        self.feed = GaugeFeed(self.engine, brands, settings.sla_check_interval_seconds)
        self.views = ApiViews()
        metrics.attach_brand_snapshots(self.feed.snapshots)
        self.held: set[int] = set()  # partitions whose state is in memory
        self.rebuilt = asyncio.Event()  # set while every assigned partition is rebuilt
        self._recovery: asyncio.Future[None] | None = None
        self.probes: Health | None = None  # liveness and readiness, set by the agents

    def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: the event loop is alive (see streams/worker/health.py)."""
        return self.probes.health() if self.probes else (True, {"starting": True})

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """/readyz: broker reachable, partitions assigned, every owned brand rebuilt."""
        if self.probes is None:
            return False, {"starting": True}
        ok, detail = self.probes.ready()
        if self.recovering():
            detail["recovery"] = self.store.progress.detail()
        return ok, detail

    def api(self, path: str) -> dict[str, Any] | None:
        return self.views.get(path)

    def check(self, body: Any) -> tuple[int, dict[str, Any]]:
        return self.views.check(body, self.brands, self.wall())

    def wall(self) -> float:
        return time.time()

    # -- ownership and recovery -----------------------------------------------------------
    def on_revoked(self, partitions: set[int]) -> None:
        """Faust revokes every partition before each new assignment (eager rebalancing).
        Nothing is dropped yet: partitions assigned again keep their state in memory (no
        one else can have processed them in between). Until the assignment, no timer may
        write state: a partition moving away is being read by its next owner.

        A recovery still running is cancelled: what it would rebuild from here on is for
        partitions that may now be someone else's, and a partition it finished after the
        revocation would count as held with none of its brands rebuilt (they are skipped
        as not owned), so its events would start from empty state."""
        self.rebuilt.clear()
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
        self.ownership.revoke(partitions)

    def on_assigned(self, partitions: set[int]) -> None:
        """Release brands of partitions now owned elsewhere; rebuild those newly owned,
        from the whole changelog partition, before any of their events is processed."""
        self.ownership.assign(partitions)
        self.metrics.partitions_assigned(len(partitions))
        self._release({b for b in self._brands_with_state() if not self.ownership.owns(b)})
        self.held &= partitions
        missing = partitions - self.held
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()  # a newer assignment: recover what it needs instead
        if not missing:
            self.rebuilt.set()
            return
        self.rebuilt.clear()
        self._recovery = asyncio.ensure_future(self._recover(missing))

    async def _recover(self, partitions: set[int]) -> None:
        log.info("recovering changelog partitions %s", sorted(partitions))
        # The cyclic collector would walk the growing state again and again while it is
        # rebuilt (seconds per full pass at a million messages, stalling the heartbeat);
        # rebuilt state holds no cycles, so collect once at the end and freeze it out of
        # every later collection (streams/worker/agents.py, tune_garbage_collector).
        gc.disable()
        try:
            restored = await self.store.recover(partitions, self.wall, self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker failed us mid-read: a fresh process retries
            log.error("state recovery failed: %r; stopping the worker", exc)
            await self.app.crash(exc)
            return
        finally:
            gc.enable()
        gc.collect()
        gc.freeze()
        release_free_memory()
        progress = self.store.progress
        progress.completed_once = True
        log.info("recovered %d state records of %d brands from %d changelog partitions in "
                 "%.1f s", restored, progress.brands_rebuilt, len(partitions),
                 (progress.finished or progress.started) - progress.started)
        self.refresh_gauges(self.wall())  # ready means the backlog gauges are whole too
        if self.ownership.assigned and self.ownership.assigned <= self.held:
            self.rebuilt.set()

    def rebuild_brand(self, brand: str, rows: list[Any]) -> None:
        """Rebuild one brand from its committed records, and export its counts."""
        if not self.ownership.owns(brand):
            return
        self.engine.restore_brand(brand, rows, self.wall())
        config = self.brands.get(brand)
        if rows and config is not None:
            self.metrics.own_brand(config)  # its series and gauges exist from now on
            self.metrics.publish_totals({brand: self.engine.totals(brand)})

    def partition_rebuilt(self, partition: int) -> None:
        """Every brand of the partition is rebuilt: it needs no reading again (only while
        the partition is assigned: its brands were skipped otherwise)."""
        if partition in self.ownership.assigned:
            self.held.add(partition)

    def recovering(self) -> bool:
        """True from a revocation until every assigned partition's state is rebuilt."""
        return not self.rebuilt.is_set()

    def startup(self) -> tuple[bool, dict[str, Any]]:
        """/startupz: the first recovery is complete; its progress while it runs."""
        progress = self.store.progress
        return progress.completed_once, progress.detail()

    def _brands_with_state(self) -> set[str]:
        return set(self.metrics.owned_brands()) | set(self.engine.active_brands())

    def _release(self, brands: set[str]) -> None:
        """Drop the state, series and snapshots of brands now owned elsewhere, in one pass
        (a rebalance can move thousands of brands)."""
        if not brands:
            return
        for brand in brands:
            self.engine.drop_brand(brand)
            self.metrics.forget_brand(brand)
        self.feed.forget(brands)
        self.views.forget(brands)

    async def persist(self) -> dict[str, FrozenTotals]:
        """Write the engine's changes; the totals written, to publish once delivered."""
        return await self.store.persist(self.engine)

    def refresh_gauges(self, wall: float) -> int:
        """Renew snapshots, the API views and the global crisis gauge; returns the number
        of full brand snapshots taken."""
        fresh = self.feed.refresh(wall)
        self.views.update(fresh)
        self.views.set_check(  # what POST /api/check reads (docs/check.md)
            [self.engine.brand_state(s, config.sla_seconds) for s in fresh
             if (config := self.brands.get(s.brand)) is not None],
            self.engine.crisis_context(self.feed.newest_time(default=wall)))
        if self.settings.analyse_behaviour:
            crisis = self.engine.crisis_status(self.feed.newest_time(default=wall))
            self.metrics.publish_global_crisis(crisis.active, crisis.sources)
            self.views.set_crisis(crisis)
        return len(fresh)
