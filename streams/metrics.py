"""The only module that touches prometheus-client.

Labels are bounded by construction: brand and platform come from the brands file,
`reason`, `kind`, `window` and `requires_reply` from fixed enumerations. Ids, authors and
hashtags never become labels.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from streams import __version__
from streams.config import BrandsConfig
from streams.core.behaviour import TONE_DEAF_REASONS, LanguageCounted, ToneDeafPost
from streams.core.sla import (
    DuplicateEvent,
    ExpiredUnanswered,
    FirstResponse,
    LateEvent,
    MessageCounted,
    PostCounted,
    SlaBreached,
)
from streams.engine import AnyObservation, BrandSnapshot
from streams.events import RejectReason

MINUTE, HOUR, DAY = 60, 3600, 86400
FIRST_RESPONSE_BUCKETS = (
    MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR,
    12 * HOUR, DAY, 2 * DAY, 4 * DAY, 7 * DAY,
)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class BrandpulseMetrics:
    """Every brandpulse metric, registered on one registry (one per worker)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        brand_platform = ("brand", "platform")
        self.first_response = Histogram(
            "brandpulse_first_response_seconds",
            "Time from an audience message needing a reply to the brand's first reply.",
            brand_platform, buckets=FIRST_RESPONSE_BUCKETS, registry=r)
        self.first_response_business = Histogram(
            "brandpulse_first_response_business_seconds",
            "First-response time counting only the brand's business hours.",
            brand_platform, buckets=FIRST_RESPONSE_BUCKETS, registry=r)
        self.audience_messages = Counter(
            "brandpulse_audience_messages", "Audience messages, by whether they need a reply.",
            (*brand_platform, "requires_reply"), registry=r)
        self.sla_met = Counter(
            "brandpulse_sla_met", "Messages answered within the SLA target.",
            brand_platform, registry=r)
        self.sla_breaches = Counter(
            "brandpulse_sla_breaches",
            "Messages whose SLA target passed unanswered, counted at that moment.",
            brand_platform, registry=r)
        self.expired = Counter(
            "brandpulse_messages_expired_unanswered",
            "Messages closed unanswered after the expiry period (7 days by default).",
            brand_platform, registry=r)
        self.brand_posts = Counter(
            "brandpulse_brand_posts", "Posts written by the brand, broadcast or reply.",
            (*brand_platform, "kind"), registry=r)
        self.unanswered = Gauge(
            "brandpulse_unanswered_messages", "Messages waiting for a first reply.",
            brand_platform, registry=r)
        self.oldest_unanswered = Gauge(
            "brandpulse_oldest_unanswered_age_seconds",
            "Event-time age of the oldest message waiting for a first reply.",
            brand_platform, registry=r)
        self.sla_target = Gauge(
            "brandpulse_sla_target_seconds", "The brand's first-response SLA target.",
            ("brand",), registry=r)
        self.broadcast_ratio = Gauge(
            "brandpulse_broadcast_ratio", "Broadcasts divided by all brand posts in the window.",
            ("brand", "window"), registry=r)
        self.reply_rate = Gauge(
            "brandpulse_reply_rate",
            "Answered divided by decided (answered or overdue) messages in the window.",
            ("brand", "window"), registry=r)
        self.robot_score = Gauge(
            "brandpulse_robot_score", "How much the brand behaves like a robot, 0 to 1.",
            ("brand",), registry=r)
        self.duplicates = Counter(
            "brandpulse_duplicate_events", "Events already seen (same id), ignored.",
            ("brand",), registry=r)
        self.late = Counter(
            "brandpulse_late_events", "Events older than the retention horizon, ignored.",
            ("brand",), registry=r)
        self.consumed = Counter(
            "brandpulse_events_consumed", "Records read from the input topics.",
            ("topic",), registry=r)
        self.rejected = Counter(
            "brandpulse_events_rejected", "Records sent to the dead-letter topic, by reason.",
            ("reason",), registry=r)
        self.state_rejected_records = Counter(
            "brandpulse_state_records_rejected",
            "Changelog records skipped on restore because they are not valid state (forged, "
            "truncated or of another version); the brand starts without them.",
            ("reason",), registry=r)
        self.consumer_lag = Gauge(
            "brandpulse_consumer_lag_messages",
            "Records not yet read on each assigned input partition.",
            ("topic", "partition"), registry=r)
        self.rebalances = Counter(
            "brandpulse_rebalances", "Partition assignments received.", registry=r)
        self.assigned_partitions = Gauge(
            "brandpulse_assigned_partitions", "Input partitions assigned to this worker.",
            registry=r)
        self.broker_reachable = Gauge(
            "brandpulse_broker_up",
            "1 while the worker's last broker probe (every 2 s) was answered, else 0.",
            registry=r)
        self.batch_seconds = Histogram(
            "brandpulse_batch_processing_seconds", "Time to process one batch of events.",
            buckets=BATCH_BUCKETS, registry=r)
        # -- behaviour analysis ---------------------------------------------------------
        self.crisis_active = Gauge(
            "brandpulse_crisis_active",
            "1 while a crisis is active for the scope (a brand, or global), else 0.",
            ("scope",), registry=r)
        self.crisis_share_sources = Gauge(
            "brandpulse_crisis_share_sources",
            "Worker processes whose audience counts (last 25 h) the global crisis scope "
            "combines, this one included.", registry=r)
        self.audience_sentiment = Gauge(
            "brandpulse_audience_sentiment",
            "Mean audience sentiment (-1 to 1) over the last hour, by crisis context.",
            ("brand", "context"), registry=r)
        self.tone_deaf_posts = Counter(
            "brandpulse_tone_deaf_posts",
            "Promotional or jokey brand posts during a crisis, or riding its hashtags.",
            ("brand", "reason"), registry=r)
        self.templated_reply_ratio = Gauge(
            "brandpulse_templated_reply_ratio",
            "Share of the brand's replies (24 h) that have a near-duplicate among them.",
            ("brand",), registry=r)
        self.topic_alignment = Gauge(
            "brandpulse_topic_alignment",
            "Cosine similarity (0 to 1) of broadcast terms to the audience's, over 7 days.",
            ("brand",), registry=r)
        self.replies_per_broadcast = Gauge(
            "brandpulse_audience_replies_per_broadcast",
            "Audience replies to the brand's broadcasts per broadcast, over 7 days.",
            ("brand",), registry=r)
        self.messages_by_language = Counter(
            "brandpulse_messages_by_language",
            "Audience messages by detected language (other languages score neutral).",
            ("brand", "lang"), registry=r)
        self.build_info = Gauge(
            "brandpulse_build_info", "Always 1; the version label says which build runs.",
            ("version",), registry=r)
        self.build_info.labels(__version__).set(1)
        self._brand_series: dict[str, set[str]] = {}  # brand -> platforms with gauges

    def initialise(self, brands: BrandsConfig, topics: Iterable[str]) -> None:
        """Create every bounded counter series at 0, so that the first event of a kind is an
        increase that rate() and increase() can see, not the birth of a series."""
        for reason in RejectReason:
            self.rejected.labels(reason.value)
        for topic in topics:
            self.consumed.labels(topic)
        for brand in brands:
            name = brand.name
            for counter in (self.duplicates, self.late):
                counter.labels(name)
            for reason in TONE_DEAF_REASONS:
                self.tone_deaf_posts.labels(name, reason)
            for lang in ("en", "fr", "other"):
                self.messages_by_language.labels(name, lang)
            for platform in brand.platforms:
                for needs in ("true", "false"):
                    self.audience_messages.labels(name, platform, needs)
                for kind in ("broadcast", "reply"):
                    self.brand_posts.labels(name, platform, kind)
                for metric in (self.sla_met, self.sla_breaches, self.expired,
                               self.first_response):
                    metric.labels(name, platform)
                if brand.business_hours is not None:
                    self.first_response_business.labels(name, platform)

    def record(self, observations: Iterable[AnyObservation]) -> None:
        """Turn the core's observations into counter increments and histogram samples.

        Identical observations are counted together first: a batch of thousands of events
        then costs one label lookup per distinct counter, not one per event.
        """
        for o, n in Tally(observations).items():
            if isinstance(o, MessageCounted):
                self.audience_messages.labels(o.brand, o.platform,
                                              "true" if o.requires_reply else "false").inc(n)
            elif isinstance(o, PostCounted):
                self.brand_posts.labels(o.brand, o.platform, o.kind).inc(n)
            elif isinstance(o, FirstResponse):
                for _ in range(n):
                    self._observe_first_response(o)
            elif isinstance(o, SlaBreached):
                self.sla_breaches.labels(o.brand, o.platform).inc(n)
            elif isinstance(o, ExpiredUnanswered):
                self.expired.labels(o.brand, o.platform).inc(n)
            elif isinstance(o, DuplicateEvent):
                self.duplicates.labels(o.brand).inc(n)
            elif isinstance(o, LateEvent):
                self.late.labels(o.brand).inc(n)
            elif isinstance(o, LanguageCounted):
                self.messages_by_language.labels(o.brand, o.lang).inc(n)
            elif isinstance(o, ToneDeafPost):
                self.tone_deaf_posts.labels(o.brand, o.reason).inc(n)

    def _observe_first_response(self, o: FirstResponse) -> None:
        self.first_response.labels(o.brand, o.platform).observe(o.seconds)
        if o.business_seconds is not None:
            self.first_response_business.labels(o.brand, o.platform).observe(o.business_seconds)
        if o.within_sla:
            self.sla_met.labels(o.brand, o.platform).inc()

    def publish(self, snapshot: BrandSnapshot, sla_seconds: float) -> None:
        """Set the brand's gauges from a snapshot taken by its owning worker."""
        brand = snapshot.brand
        platforms = self._brand_series.setdefault(brand, set())
        self.sla_target.labels(brand).set(sla_seconds)
        for platform, backlog in snapshot.backlog.items():
            platforms.add(platform)
            self.unanswered.labels(brand, platform).set(backlog.unanswered)
            self.oldest_unanswered.labels(brand, platform).set(backlog.oldest_age_seconds)
        conversation = snapshot.conversation
        for window, value in conversation.broadcast_ratio.items():
            self.broadcast_ratio.labels(brand, window).set(value)
        for window, value in conversation.reply_rate.items():
            self.reply_rate.labels(brand, window).set(value)
        self.robot_score.labels(brand).set(conversation.robot_score)
        behaviour = snapshot.behaviour
        self.crisis_active.labels(brand).set(1 if behaviour.crisis_active else 0)
        for context, value in behaviour.sentiment.items():
            self.audience_sentiment.labels(brand, context).set(value)
        self.templated_reply_ratio.labels(brand).set(behaviour.templated_reply_ratio)
        self.topic_alignment.labels(brand).set(behaviour.topic_alignment)
        self.replies_per_broadcast.labels(brand).set(
            behaviour.audience_replies_per_broadcast)

    def publish_global_crisis(self, active: bool, sources: int) -> None:
        self.crisis_active.labels("global").set(1 if active else 0)
        self.crisis_share_sources.set(sources)

    def forget_brand(self, brand: str) -> None:
        """Remove a brand's gauges: its partition now belongs to another worker."""
        platforms = self._brand_series.pop(brand, set())
        for platform in platforms:
            for gauge in (self.unanswered, self.oldest_unanswered):
                _remove(gauge, brand, platform)
        for gauge in (self.sla_target, self.robot_score, self.crisis_active,
                      self.templated_reply_ratio, self.topic_alignment,
                      self.replies_per_broadcast):
            _remove(gauge, brand)
        for context in ("crisis", "normal"):
            _remove(self.audience_sentiment, brand, context)
        for gauge in (self.broadcast_ratio, self.reply_rate):
            for window in ("1h", "24h"):
                _remove(gauge, brand, window)

    def events_consumed(self, counts: Mapping[str, int]) -> None:
        for topic, count in counts.items():
            self.consumed.labels(topic).inc(count)

    def batch_processed(self, seconds: float) -> None:
        self.batch_seconds.observe(seconds)

    def partitions_assigned(self, count: int) -> None:
        self.rebalances.inc()
        self.assigned_partitions.set(count)

    def broker_up(self, up: bool) -> None:
        self.broker_reachable.set(1 if up else 0)

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(topic, str(partition)).set(lag)

    def forget_consumer_lag(self, topic: str, partition: int) -> None:
        _remove(self.consumer_lag, topic, str(partition))

    def state_rejected(self, reason: str) -> None:
        self.state_rejected_records.labels(reason).inc()

    def rejected_event(self, reason: str) -> None:
        self.rejected.labels(reason).inc()

    def serve(self, port: int, host: str = "0.0.0.0",
              api: Callable[[str], dict[str, Any] | None] | None = None) -> int:
        """Serve /metrics (and, given `api`, JSON under /api/) over HTTP in a thread.

        Returns the bound port (useful with port 0).
        """
        metrics_app = make_wsgi_app(self.registry)

        def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            path = environ.get("PATH_INFO", "")
            if api is not None and path.startswith("/api/"):
                body = api(path)
                status = "200 OK" if body is not None else "404 Not Found"
                payload = orjson.dumps(body if body is not None else {"error": "not found"})
                start_response(status, [("Content-Type", "application/json")])
                return [payload]
            return metrics_app(environ, start_response)

        self._server = make_server(host, port, application, _ThreadingServer, _QuietHandler)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        return int(self._server.server_port)

    def stop_serving(self) -> None:
        server = getattr(self, "_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every second
        pass


def _remove(metric: Gauge, *labels: str) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        pass
