"""The Faust application: topics, the state table, and the runtime the agents share.

`create_app` is a factory (never a module-level app) so that tests and the demo can run
several workers with different settings in one process tree.

State: the engine keeps hot state in memory; the Faust table `sla-state` is only its
changelog, one key per (brand, event-time hour) written at most once per batch. After a
restart or a rebalance the table is recovered by Faust and each owned brand is rebuilt
from its keys before the agent sees the next event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import socket
import time
import uuid
from dataclasses import replace
from typing import Any

import faust
from kafka.partitioner.default import murmur2

from streams.config import BrandsConfig, Settings
from streams.core.behaviour import GLOBAL
from streams.core.crisis import CrisisStatus, DeclaredCrisis
from streams.core.sla import RecordTag
from streams.engine import BrandSnapshot, Engine
from streams.events import Rejection
from streams.health import Health
from streams.metrics import BrandpulseMetrics
from streams.wire import decode_state, encode_state_key, encode_state_value, state_key_brand

log = logging.getLogger(__name__)
GAUGE_SWEEP_SECONDS = 60.0  # every owned brand's gauges are renewed at least this often
SNAPSHOTS_PER_TICK = 500  # full brand snapshots per 1-s tick (~50-100 ms of work)
END_MARKER_KEY = b"\x1fend"  # no brand: `state_key_brand` gives None, restore skips it


def brand_partition(brand: str, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a record keyed by brand."""
    return (murmur2(brand.encode("utf-8")) & 0x7FFFFFFF) % partitions


class Runtime:
    """What the agents and timers of one worker share: engine, metrics, table, ownership."""

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
        self.input_topic = app.topic(
            topics.audience_messages, topics.brand_posts,
            key_serializer="raw", value_serializer="raw", partitions=settings.partitions,
            replicas=settings.replication_factor)
        self.dead_letter_topic = app.topic(
            topics.dead_letter, key_serializer="raw", value_serializer="raw",
            partitions=1, replicas=settings.replication_factor)
        self.alerts_topic = app.topic(
            topics.alerts, key_serializer="raw", value_serializer="raw",
            partitions=1, replicas=settings.replication_factor)
        self.crisis_shares_topic = app.topic(
            topics.crisis_shares, key_serializer="raw", value_serializer="raw",
            partitions=1, replicas=settings.replication_factor)
        self.state_table = app.Table(
            "sla-state", key_type=bytes, value_type=bytes, partitions=settings.partitions)
        self.owned_partitions: set[int] = set()
        self.needs_sync = True  # rebuild from the table before the next batch
        # What the web API serves: replaced whole by the SLA timer, read by the HTTP thread.
        self.brand_views: dict[str, dict[str, Any]] = {}
        self.crisis_view: dict[str, Any] = {}
        # Latest (snapshot, SLA target) per owned brand, replaced on the event loop; the
        # tuple is what the metrics collector iterates at scrape time.
        self._gauges: dict[str, tuple[BrandSnapshot, float]] = {}
        self._gauge_view: tuple[tuple[BrandSnapshot, float], ...] = ()
        self._sweep = 0
        self._waiting: set[str] = set()  # brands whose snapshot is to be renewed
        metrics.attach_brand_snapshots(lambda: self._gauge_view)
        self.probes: Health | None = None  # liveness and readiness, set by the agents
        self._crashing: asyncio.Future[Any] | None = None

    def health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: the event loop is alive (see streams/health.py)."""
        return self.probes.health() if self.probes else (True, {"starting": True})

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """/readyz: broker reachable, partitions assigned, not recovering."""
        return self.probes.ready() if self.probes else (False, {"starting": True})

    def wall(self) -> float:
        return time.time()

    def owned_brands(self) -> list[str]:
        n = self.settings.partitions
        return [b.name for b in self.brands if brand_partition(b.name, n) in self.owned_partitions]

    # -- ownership -----------------------------------------------------------------------
    def on_assigned(self, partitions: set[int]) -> None:
        """Series, state and timers exist only for owned brands with state: a brand gets
        them at its first event or when its state is restored, never for being configured."""
        self.owned_partitions = partitions
        self.metrics.partitions_assigned(len(partitions))
        owned = set(self.owned_brands())
        self._release({b for b in self._brands_with_state() if b not in owned})
        self.needs_sync = True

    def on_revoked(self, partitions: set[int]) -> None:
        n = self.settings.partitions
        self.owned_partitions -= partitions
        self._release({b for b in self._brands_with_state()
                       if brand_partition(b, n) in partitions})

    def _brands_with_state(self) -> set[str]:
        return set(self.metrics.owned_brands()) | set(self.engine.active_brands())

    def _release(self, brands: set[str]) -> None:
        """Drop the state, series and cached gauges of brands now owned elsewhere (in one
        pass: a rebalance can move thousands of brands)."""
        if not brands:
            return
        for brand in brands:
            self.engine.drop_brand(brand)
            self.metrics.forget_brand(brand)
            self._gauges.pop(brand, None)
        self._waiting -= brands
        self.brand_views = {b: v for b, v in self.brand_views.items() if b not in brands}
        self._gauge_view = tuple(self._gauges.values())

    def sync_from_table(self) -> int:
        """Rebuild every owned brand not yet in memory from the recovered table; returns
        the number of records restored. Unreadable records are counted and skipped."""
        self.needs_sync = False
        missing = {b for b in self.owned_brands() if not self.engine.has_brand(b)}
        if not missing:
            return 0
        wall = self.wall()
        not_after = wall + self.engine.max_future_skew_seconds
        rows: dict[str, list[tuple[int, RecordTag, str, list[Any]]]] = {b: [] for b in missing}
        for key, value in list(self.state_table.data.items()):
            if value is None or state_key_brand(key) not in missing:
                continue
            decoded = decode_state(key, value, self.brands, not_after)
            if isinstance(decoded, Rejection):
                self.metrics.state_rejected(decoded.reason.value)
                log.warning("state record %r skipped: %s", key[:80], decoded.detail)
                continue
            brand, hour, tag, record_id, row = decoded
            rows[brand].append((hour, tag, record_id, row))
        for brand, brand_rows in rows.items():
            self.engine.restore_brand(brand, brand_rows, wall)
            config = self.brands.get(brand)
            if brand_rows and config is not None:
                self.metrics.own_brand(config)  # its series and gauges exist from now on
        restored = sum(len(r) for r in rows.values())
        if restored:
            log.info("rebuilt %d state records of %d brands from the table", restored,
                     len(missing))
        return restored

    async def persist(self) -> int:
        """Write each record changed since the last call once to the table's changelog:
        the cost follows what the batch changed, never what is already stored.

        Records go straight to the producer's batches (Faust's one-at-a-time send buffer
        capped a worker at ~1k state writes/s); Faust flushes the producer before it
        commits input offsets, so a batch's state is on the broker before its offsets."""
        n = self.settings.partitions
        data = self.state_table.data
        topic = self.state_table.changelog_topic.get_topic_name()
        send = self.app.producer.send
        written: set[int] = set()
        for brand, record_key, row in self.engine.take_changes():
            key = encode_state_key(brand, record_key)
            value = None if row is None else encode_state_value(row)
            if value is None:
                if data.pop(key, None) is None:
                    continue  # never written: no tombstone needed
            else:
                data[key] = value
            partition = brand_partition(brand, n)
            delivery = await send(topic, key, value, partition, None, None)
            delivery.add_done_callback(self._state_written)  # type: ignore[attr-defined]
            written.add(partition)
        if written and self.settings.changelog_end_marker:
            await self._end_marker(topic, written)
        return len(written)

    def _state_written(self, delivery: asyncio.Future[Any]) -> None:
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

    def refresh_gauges(self, wall: float) -> int:
        """Renew the snapshots that /metrics and /api read (the HTTP thread reads them at
        scrape time, never the engine). Per tick: full snapshots of the brands that changed
        plus a round-robin slice (every brand at least once per GAUGE_SWEEP_SECONDS, for
        rolling windows), at most SNAPSHOTS_PER_TICK (the rest wait for the next ticks, so
        a burst over thousands of brands cannot stall the event loop), and only the backlog
        ages of brands with a backlog. Returns the number of full snapshots taken."""
        engine = self.engine
        active = engine.active_brands()
        waiting = self._waiting
        waiting.update(engine.take_touched())
        if active:
            per_tick = max(1, math.ceil(len(active) * self.settings.sla_check_interval_seconds
                                        / GAUGE_SWEEP_SECONDS))
            start = self._sweep % len(active)
            waiting.update(active[start:start + per_tick])
            self._sweep = start + per_tick
        if len(waiting) <= SNAPSHOTS_PER_TICK:
            refresh, self._waiting = waiting, set()
        else:
            refresh = set(itertools.islice(waiting, SNAPSHOTS_PER_TICK))
            waiting -= refresh
        gauges = self._gauges
        views: dict[str, dict[str, Any]] = {}
        for brand in refresh:
            config = self.brands.get(brand)
            if config is None or not engine.has_brand(brand):
                continue
            snapshot = engine.snapshot(brand, engine.brand_now(brand, wall))
            gauges[brand] = (snapshot, config.sla_seconds)
            views[brand] = brand_view(snapshot)
        if views:  # replaced whole: the HTTP thread may be iterating the old one
            self.brand_views = {**self.brand_views, **views}
        for brand, (snapshot, sla_seconds) in list(gauges.items()):
            if brand not in refresh and any(b.unanswered for b in snapshot.backlog.values()):
                now = engine.brand_now(brand, wall)
                gauges[brand] = (replace(snapshot, now=now, backlog=engine.book(brand)
                                         .backlog(now)), sla_seconds)
        self._gauge_view = tuple(gauges.values())
        if self.settings.analyse_behaviour:
            behaviour = engine.behaviour
            # The global scope's "now": the newest brand clock (each bounded by the skew).
            now = max((s.now for s, _ in gauges.values()), default=wall)
            declared = [c for c in behaviour.declared.values() if c.is_active(now)]
            shared = behaviour.global_crisis
            self.metrics.publish_global_crisis(bool(declared) or behaviour.detected(GLOBAL, now),
                                               shared.sources)
            self.crisis_view = crisis_view(shared.detector.status(), shared.sources, declared)
        return len(refresh)

    def api(self, path: str) -> dict[str, Any] | None:
        """GET /api/brands, /api/brands/NAME (per-brand state, top audience topics) and
        /api/crisis (the global scope's signals and the active declared crises)."""
        views = self.brand_views
        if path.rstrip("/") == "/api/brands":
            return {"brands": sorted(views)}
        if path.rstrip("/") == "/api/crisis":
            return self.crisis_view
        prefix = "/api/brands/"
        if path.startswith(prefix):
            return views.get(path[len(prefix):].rstrip("/"))
        return None


def brand_view(snapshot: Any) -> dict[str, Any]:
    """JSON-ready view of a brand snapshot (NaN becomes null)."""
    def number(value: float) -> float | None:
        return None if value != value else round(value, 6)

    behaviour = snapshot.behaviour
    conversation = snapshot.conversation
    return {
        "brand": snapshot.brand,
        "event_time": snapshot.now,
        "backlog": {p: {"unanswered": b.unanswered, "oldest_age_seconds": b.oldest_age_seconds,
                        "at_risk": b.at_risk} for p, b in snapshot.backlog.items()},
        "robot_score": number(conversation.robot_score),
        "broadcast_ratio": {w: number(v) for w, v in conversation.broadcast_ratio.items()},
        "reply_rate": {w: number(v) for w, v in conversation.reply_rate.items()},
        "crisis_active": behaviour.crisis_active,
        "audience_sentiment": {c: number(v) for c, v in behaviour.sentiment.items()},
        "templated_reply_ratio": number(behaviour.templated_reply_ratio),
        "topic_alignment": number(behaviour.topic_alignment),
        "audience_replies_per_broadcast": number(behaviour.audience_replies_per_broadcast),
        "top_audience_terms": [[term, count] for term, count in behaviour.top_audience_terms],
        "agents": {a: {"replies": s.replies, "first_responses": s.first_responses,
                       "first_response_seconds": {"p50": s.first_response_p50,
                                                  "p90": s.first_response_p90},
                       "sla_met_share": s.sla_met_share} for a, s in snapshot.agents.items()},
    }


def crisis_view(status: CrisisStatus, sources: int,
                declared: list[DeclaredCrisis]) -> dict[str, Any]:
    """JSON-ready view of the global crisis scope."""
    return {
        "global": {
            "active": status.active, "since": status.since, "signals": status.signals,
            "volume_last_hour": status.volume,
            "vocabulary_rate": round(status.vocabulary_rate, 6),
            "spike": status.spike, "baseline_hourly_mean": round(status.baseline_mean, 6),
            "sentiment_dip": status.sentiment_dip,
            "sentiment_mean": round(status.sentiment_mean, 6),
            "baseline_sentiment": round(status.baseline_sentiment, 6),
            "sources": sources,
        },
        "declared": [{"name": c.name, "start": c.start, "end": c.end} for c in declared],
    }


def create_app(settings: Settings, brands: BrandsConfig,
               metrics: BrandpulseMetrics | None = None) -> tuple[faust.App, Runtime]:
    """Build a Faust app with its topics, table, agent and timers."""
    options: dict[str, Any] = {
        "broker": settings.broker,
        "store": "memory://",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "datadir": settings.data_dir,
        "web_enabled": False,
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": settings.heartbeat_interval_seconds,
        "stream_wait_empty": False,
        "producer_acks": -1,
    }
    if settings.producer_max_batch_size is not None:
        options["producer_max_batch_size"] = settings.producer_max_batch_size
    app = faust.App(settings.app_id, **options)
    metrics = metrics or BrandpulseMetrics()
    metrics.initialise((settings.topics.audience_messages, settings.topics.brand_posts),
                       brands.get)
    runtime = Runtime(app, settings, brands, metrics)

    from streams.agents import register_agents

    runtime.probes = register_agents(app, runtime)
    return app, runtime
