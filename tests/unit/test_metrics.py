"""streams.metrics: series only for owned brands, brand gauges computed at scrape time, and a
lag measured from what was processed (not from what Faust read ahead)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import time
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.config import BrandConfig
from streams.core.behaviour import BehaviourSnapshot, LanguageCounted, ToneDeafPost
from streams.core.business_hours import BusinessHours
from streams.core.conversation import ConversationSnapshot
from streams.core.crisis_content import LABEL_MAX, CrisisAbout
from streams.core.sla import Backlog
from streams.core.sla_observations import (
    DuplicateEvent,
    ExpiredUnanswered,
    FirstResponse,
    LateEvent,
    MessageCounted,
    PostCounted,
    SlaBreached,
)
from streams.core.totals import BrandTotals
from streams.engine import BrandSnapshot
from streams.metrics import BrandpulseMetrics
from tests.unit.counting import Counts

TOPICS = ("brandpulse.audience-messages", "brandpulse.brand-posts")
DESK = BusinessHours.weekly(ZoneInfo("Europe/Paris"), frozenset(range(5)), time(9), time(18))


def brand(name: str, hours: BusinessHours | None = None) -> BrandConfig:
    return BrandConfig(name, {"twitter": frozenset({name}), "instagram": frozenset({name})},
                       sla_seconds=1800, business_hours=hours)


def snapshot(name: str, *, crisis: bool = False) -> BrandSnapshot:
    return BrandSnapshot(
        brand=name, now=1_700_000_000.0,
        backlog={"twitter": Backlog(3, 125.5), "instagram": Backlog(0, 0.0)},
        conversation=ConversationSnapshot({"1h": math.nan, "24h": 0.25},
                                          {"1h": 1.0, "24h": 0.5}, math.nan),
        behaviour=BehaviourSnapshot(
            crisis_active=crisis, sentiment={"crisis": math.nan, "normal": -0.125},
            templated_reply_ratio=0.75, templated_reply_count=8, topic_alignment=math.nan,
            audience_replies_per_broadcast=2.5, top_audience_terms=[("storm", 4)]))


def new_metrics(clock: list[float] | None = None) -> BrandpulseMetrics:
    now = clock if clock is not None else [0.0]
    metrics = BrandpulseMetrics(CollectorRegistry(), clock=lambda: now[0])
    metrics.initialise(TOPICS)
    return metrics


def series(metrics: BrandpulseMetrics) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in metrics.registry.collect()
            for s in family.samples]


def brand_series(metrics: BrandpulseMetrics, name: str) -> list[tuple[str, dict[str, str]]]:
    return [(n, labels) for n, labels, _ in series(metrics)
            if labels.get("brand") == name or labels.get("scope") == name]


# -- owned brands only ---------------------------------------------------------------------
def test_a_worker_owning_no_brand_exposes_no_brand_series() -> None:
    """1,000 configured brands, none owned: not one brand label, even if the runtime still
    hands over snapshots (a stale cache must not leak a brand another worker owns)."""
    configured = [brand(f"brand{i}") for i in range(1000)]
    metrics = new_metrics()
    metrics.attach_brand_snapshots(lambda: [(snapshot(b.name), b.sla_seconds)
                                            for b in configured])
    samples = series(metrics)
    assert not [s for s in samples if "brand" in s[1] or "scope" in s[1]]
    # the non-brand series exist at 0 from the start
    assert ("brandpulse_events_rejected_total", {"reason": "schema"}, 0.0) in samples
    assert ("brandpulse_events_consumed_total", {"topic": TOPICS[0]}, 0.0) in samples
    assert len(generate_latest(metrics.registry)) < 20_000


def test_own_brand_creates_its_counter_series_at_zero() -> None:
    metrics = new_metrics()
    metrics.own_brand(brand("acme", DESK))
    metrics.own_brand(brand("plain"))
    get = metrics.registry.get_sample_value
    for platform in ("twitter", "instagram"):
        for needs in ("true", "false"):
            assert get("brandpulse_audience_messages_total",
                       {"brand": "acme", "platform": platform, "requires_reply": needs}) == 0
        for kind in ("broadcast", "reply"):
            assert get("brandpulse_brand_posts_total",
                       {"brand": "acme", "platform": platform, "kind": kind}) == 0
        for name in ("messages_expired_unanswered_total", "next_response_seconds_count"):
            assert get(f"brandpulse_{name}", {"brand": "acme", "platform": platform}) == 0
        for name in ("sla_met_total", "sla_breaches_total", "first_response_seconds_count",
                     "first_response_business_seconds_count"):
            assert get(f"brandpulse_{name}", {"brand": "acme", "platform": platform,
                                              "policy": "default"}) == 0
        # no business hours, no business-time histogram
        assert get("brandpulse_first_response_business_seconds_count",
                   {"brand": "plain", "platform": platform, "policy": "default"}) is None
    for name in ("duplicate_events_total", "late_events_total"):
        assert get(f"brandpulse_{name}", {"brand": "acme"}) == 0
    for reason in ("promotional_in_crisis", "jokey_in_crisis", "hashtag_hijack"):
        assert get("brandpulse_tone_deaf_posts_total", {"brand": "acme", "reason": reason}) == 0
    for lang in ("en", "fr", "other"):
        assert get("brandpulse_messages_by_language_total", {"brand": "acme", "lang": lang}) == 0
    assert not brand_series(metrics, "someone-else")
    # no `_created` series: a quarter of a brand's series that nothing reads
    default = {"brand": "acme", "platform": "twitter", "policy": "default"}
    assert get("brandpulse_sla_met_created", default) is None
    assert get("brandpulse_first_response_seconds_created", default) is None
    metrics.own_brand(brand("acme", DESK))  # idempotent: a re-assignment keeps the counts
    assert get("brandpulse_sla_met_total", default) == 0


def every_observation(name: str) -> list[object]:
    return [
        MessageCounted(name, "twitter", True), PostCounted(name, "instagram", "reply"),
        FirstResponse(name, "twitter", 90.0, 30.0, True), SlaBreached(name, "instagram"),
        ExpiredUnanswered(name, "twitter"), DuplicateEvent(name), LateEvent(name),
        LanguageCounted(name, "fr"),
        ToneDeafPost(name, "twitter", "p1", 0.0, "jokey_in_crisis", "storm", "joke", "lol"),
    ]


def test_forget_brand_removes_every_series_of_the_brand_and_only_those() -> None:
    metrics = new_metrics()
    metrics.own_brand(brand("acme", DESK))
    metrics.own_brand(brand("other", DESK))
    metrics.attach_brand_snapshots(lambda: [(snapshot("acme"), 1800.0),
                                            (snapshot("other"), 1800.0)])
    metrics.initialise(TOPICS, {"acme": brand("acme", DESK), "other": brand("other", DESK)}.get)
    Counts(metrics, metrics._resolve).record(every_observation("acme") + every_observation("other"))
    before = brand_series(metrics, "other")
    assert brand_series(metrics, "acme")
    assert ("brandpulse_unanswered_messages", {"brand": "acme", "platform": "twitter"}) in \
        brand_series(metrics, "acme")
    metrics.forget_brand("acme")
    assert brand_series(metrics, "acme") == []
    assert brand_series(metrics, "other") == before
    assert metrics.owned_brands() == ["other"]
    metrics.forget_brand("acme")  # twice, or a brand never owned: nothing to do
    metrics.forget_brand("never-owned")
    # owned again: at 0 until its persisted totals are published again; gauges are back
    metrics.own_brand(brand("acme", DESK))
    get = metrics.registry.get_sample_value
    assert get("brandpulse_late_events_total", {"brand": "acme"}) == 0
    assert get("brandpulse_robot_score", {"brand": "acme"}) is not None


# -- gauges at scrape time -----------------------------------------------------------------
def publish_with_settable_gauges(registry: CollectorRegistry, snap: BrandSnapshot,
                                 sla_seconds: float, global_active: bool) -> None:
    """The previous release's publish(): one settable Gauge per family, set per brand."""
    def gauge(name: str, doc: str, labels: tuple[str, ...]) -> Gauge:
        return Gauge(name, doc, labels, registry=registry)

    b = snap.brand
    unanswered = gauge("brandpulse_unanswered_messages", "Messages waiting for a first reply.",
                       ("brand", "platform"))
    oldest = gauge("brandpulse_oldest_unanswered_age_seconds",
                   "Event-time age of the oldest message waiting for a first reply.",
                   ("brand", "platform"))
    gauge("brandpulse_sla_target_seconds", "The brand's first-response SLA target.",
          ("brand",)).labels(b).set(sla_seconds)
    for platform, backlog in snap.backlog.items():
        unanswered.labels(b, platform).set(backlog.unanswered)
        oldest.labels(b, platform).set(backlog.oldest_age_seconds)
    ratio = gauge("brandpulse_broadcast_ratio",
                  "Broadcasts divided by all brand posts in the window.", ("brand", "window"))
    for window, value in snap.conversation.broadcast_ratio.items():
        ratio.labels(b, window).set(value)
    rate = gauge("brandpulse_reply_rate",
                 "Answered divided by decided (answered or overdue) messages in the window.",
                 ("brand", "window"))
    for window, value in snap.conversation.reply_rate.items():
        rate.labels(b, window).set(value)
    gauge("brandpulse_robot_score", "How much the brand behaves like a robot, 0 to 1.",
          ("brand",)).labels(b).set(snap.conversation.robot_score)
    crisis = gauge("brandpulse_crisis_active",
                   "1 while a crisis is active for the scope (a brand, or global), else 0.",
                   ("scope",))
    crisis.labels(b).set(1 if snap.behaviour.crisis_active else 0)
    crisis.labels("global").set(1 if global_active else 0)
    sentiment = gauge("brandpulse_audience_sentiment",
                      "Mean audience sentiment (-1 to 1) over the last hour, by crisis context.",
                      ("brand", "context"))
    for context, value in snap.behaviour.sentiment.items():
        sentiment.labels(b, context).set(value)
    gauge("brandpulse_templated_reply_ratio",
          "Share of the brand's replies (24 h) that have a near-duplicate among them.",
          ("brand",)).labels(b).set(snap.behaviour.templated_reply_ratio)
    gauge("brandpulse_topic_alignment",
          "Cosine similarity (0 to 1) of broadcast terms to the audience's, over 7 days.",
          ("brand",)).labels(b).set(snap.behaviour.topic_alignment)
    gauge("brandpulse_audience_replies_per_broadcast",
          "Audience replies to the brand's broadcasts per broadcast, over 7 days.",
          ("brand",)).labels(b).set(snap.behaviour.audience_replies_per_broadcast)


def blocks(text: bytes) -> dict[str, str]:
    """Exposition text split per family (HELP line to the next HELP line)."""
    out: dict[str, str] = {}
    for chunk in text.decode().split("# HELP ")[1:]:
        out[chunk.split(" ", 1)[0]] = chunk
    return out


def test_collector_exposition_equals_the_settable_gauges() -> None:
    """Byte for byte per family, NaN included, for a hand-built snapshot."""
    snap = snapshot("acme", crisis=True)
    reference = CollectorRegistry()
    publish_with_settable_gauges(reference, snap, 1800.0, global_active=False)
    metrics = new_metrics()
    metrics.own_brand(brand("acme"))
    metrics.attach_brand_snapshots(lambda: [(snap, 1800.0)])
    metrics.publish_global_crisis(False, 2)
    expected = blocks(generate_latest(reference))
    got = blocks(generate_latest(metrics.registry))
    assert len(expected) == 11
    for name, block in expected.items():
        assert got[name] == block, name
    # and by hand, so that the reference itself is checked
    assert 'brandpulse_robot_score{brand="acme"} NaN\n' in got["brandpulse_robot_score"]
    assert ('brandpulse_oldest_unanswered_age_seconds{brand="acme",platform="twitter"} 125.5\n'
            in got["brandpulse_oldest_unanswered_age_seconds"])
    assert got["brandpulse_crisis_active"].endswith(
        'brandpulse_crisis_active{scope="acme"} 1.0\n'
        'brandpulse_crisis_active{scope="global"} 0.0\n')
    assert "brandpulse_crisis_share_sources 2.0\n" in got["brandpulse_crisis_share_sources"]


def test_gauges_follow_the_snapshots_at_each_scrape() -> None:
    metrics = new_metrics()
    metrics.own_brand(brand("acme"))
    current = [(snapshot("acme"), 1800.0)]
    metrics.attach_brand_snapshots(lambda: current)
    get = metrics.registry.get_sample_value
    assert get("brandpulse_crisis_active", {"scope": "acme"}) == 0
    assert get("brandpulse_crisis_active", {"scope": "global"}) is None  # not published yet
    current = [(snapshot("acme", crisis=True), 900.0)]
    assert get("brandpulse_crisis_active", {"scope": "acme"}) == 1
    assert get("brandpulse_sla_target_seconds", {"brand": "acme"}) == 900


def test_one_crisis_active_family_for_both_scopes() -> None:
    metrics = new_metrics()
    metrics.own_brand(brand("acme"))
    metrics.attach_brand_snapshots(lambda: [(snapshot("acme"), 1800.0)])
    metrics.publish_global_crisis(True, 1)
    families = [f for f in text_string_to_metric_families(
        generate_latest(metrics.registry).decode()) if f.name == "brandpulse_crisis_active"]
    assert len(families) == 1
    assert {s.labels["scope"]: s.value for s in families[0].samples} == {
        "acme": 0.0, "global": 1.0}
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Gauge("brandpulse_crisis_active", "again", ("scope",), registry=metrics.registry)


def test_a_failing_snapshot_source_does_not_break_the_scrape() -> None:
    metrics = new_metrics()
    metrics.own_brand(brand("acme"))

    def broken() -> list[tuple[BrandSnapshot, float]]:
        raise RuntimeError("dictionary changed size during iteration")

    metrics.attach_brand_snapshots(broken)
    text = generate_latest(metrics.registry).decode()
    assert "# TYPE brandpulse_robot_score gauge" in text
    assert 'brandpulse_late_events_total{brand="acme"} 0.0' in text


# -- lag, processing delay, newest event age ----------------------------------------------
def test_lag_counts_from_the_last_processed_offset() -> None:
    metrics = new_metrics()
    t = TOPICS[0]
    # nothing processed yet: the group's committed offset (next to process), else 0
    assert metrics.update_consumer_lag(t, 0, highwater=50) == 50
    assert metrics.update_consumer_lag(t, 0, highwater=50, committed=30) == 20
    metrics.processed(t, 0, offset=41, event_time=None, wall=0.0)  # offsets 0..41 done
    assert metrics.processed_position(t, 0) == 42
    assert metrics.update_consumer_lag(t, 0, highwater=50, committed=30) == 8
    assert metrics.registry.get_sample_value(
        "brandpulse_consumer_lag_messages", {"topic": t, "partition": "0"}) == 8
    assert metrics.update_consumer_lag(t, 0, highwater=42) == 0
    assert metrics.update_consumer_lag(t, 0, highwater=40) == 0  # stale watermark: never < 0
    # the group is further than this worker (stale progress): the committed offset counts
    assert metrics.update_consumer_lag(t, 0, highwater=50, committed=45) == 5
    # redelivery after a rebalance: the lag shows the re-reading, it is not a maximum
    metrics.processed(t, 0, offset=20, event_time=None, wall=0.0)
    assert metrics.update_consumer_lag(t, 0, highwater=50) == 29
    assert metrics.update_consumer_lag(t, 1, highwater=7) == 7  # partitions are apart
    metrics.forget_consumer_lag(t, 0)
    assert metrics.processed_position(t, 0) is None
    assert metrics.registry.get_sample_value(
        "brandpulse_consumer_lag_messages", {"topic": t, "partition": "0"}) is None


def test_newest_event_age_grows_while_processing_stalls() -> None:
    clock = [1_000.0]
    metrics = new_metrics(clock)
    t = TOPICS[1]
    get = metrics.registry.get_sample_value
    labels = {"topic": t, "partition": "3"}
    assert get("brandpulse_newest_event_age_seconds", labels) is None
    metrics.processed(t, 3, offset=9, event_time=990.0, wall=992.0)
    assert get("brandpulse_newest_event_age_seconds", labels) == 10.0
    clock[0] = 1_300.0  # no batch for 5 minutes: the age keeps growing
    assert get("brandpulse_newest_event_age_seconds", labels) == 310.0
    metrics.processed(t, 3, offset=10, event_time=900.0, wall=1_300.0)  # an older event
    assert get("brandpulse_newest_event_age_seconds", labels) == 310.0
    metrics.processed(t, 3, offset=11, event_time=1_400.0, wall=1_300.0)  # clock skew
    assert get("brandpulse_newest_event_age_seconds", labels) == 0.0
    metrics.forget_consumer_lag(t, 3)
    assert get("brandpulse_newest_event_age_seconds", labels) is None


def test_processing_delay_is_one_sample_per_partition_batch_with_a_decoded_event() -> None:
    metrics = new_metrics()
    t = TOPICS[0]
    metrics.processed(t, 0, offset=5, event_time=100.0, wall=100.3)  # 0.3 s
    metrics.processed(t, 1, offset=5, event_time=100.0, wall=190.0)  # 90 s
    metrics.processed(t, 2, offset=5, event_time=None, wall=190.0)  # all rejected
    metrics.processed(t, 3, offset=5, event_time=200.0, wall=190.0)  # skew: 0
    get = metrics.registry.get_sample_value
    name = "brandpulse_event_processing_delay_seconds"
    assert get(f"{name}_count") == 3
    assert get(f"{name}_sum") == pytest.approx(90.3)
    assert get(f"{name}_bucket", {"le": "0.05"}) == 1
    assert get(f"{name}_bucket", {"le": "0.5"}) == 2
    assert get(f"{name}_bucket", {"le": "60.0"}) == 2
    assert get(f"{name}_bucket", {"le": "120.0"}) == 3
    assert get(f"{name}_bucket", {"le": "3600.0"}) == 3


# -- lazy series: an idle configured brand costs nothing, a new one is seen at 0 first ----
def value(metrics: BrandpulseMetrics, name: str, **labels: str) -> float | None:
    for n, ls, v in series(metrics):
        if n == name and ls == labels:
            return v
    return None


def test_a_new_brands_first_counts_wait_for_a_scrape_of_its_zeros() -> None:
    configs = {"acme": brand("acme")}
    metrics = new_metrics()
    metrics.initialise(TOPICS, configs.get)
    counts = Counts(metrics, configs.get)
    counted = {"brand": "acme", "platform": "twitter", "requires_reply": "true"}
    assert value(metrics, "brandpulse_audience_messages_total", **counted) is None
    counts.record([MessageCounted("acme", "twitter", True)] * 3)
    # born at 0: a scrape must see 0 before it grows
    assert value(metrics, "brandpulse_audience_messages_total", **counted) == 0.0
    assert value(metrics, "brandpulse_audience_messages_total", **counted) == 3.0
    counts.record([MessageCounted("acme", "twitter", True)])
    assert value(metrics, "brandpulse_audience_messages_total", **counted) == 4.0


def test_restored_totals_are_exported_at_once() -> None:
    """A brand rebuilt from its state continues its counters: no zeros first (Prometheus
    would read that as a reset)."""
    config = brand("acme")
    metrics = new_metrics()
    metrics.initialise(TOPICS, {"acme": config}.get)
    totals = BrandTotals(config)
    totals.on_message_counted(MessageCounted("acme", "twitter", True), 7)
    restored = BrandTotals(config)
    restored.restore(totals.row())
    metrics.publish_totals({"acme": restored.frozen()})
    assert value(metrics, "brandpulse_audience_messages_total", brand="acme",
                 platform="twitter", requires_reply="true") == 7.0


def test_a_new_brands_zeros_wait_at_most_a_while_for_a_scrape(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import streams.metrics as module
    now = [1000.0]
    metrics = new_metrics()
    metrics.brand_counters.clock = lambda: now[0]
    metrics.initialise(TOPICS, {"acme": brand("acme")}.get)
    Counts(metrics, metrics._resolve).record([DuplicateEvent("acme")])
    now[0] += module.FRESH_SERIES_SECONDS + 1
    assert value(metrics, "brandpulse_duplicate_events_total", brand="acme") == 1


def test_unconfigured_brands_never_get_series() -> None:
    metrics = new_metrics()
    metrics.initialise(TOPICS, {}.get)
    metrics.publish_totals({"ghost": BrandTotals(brand("ghost")).frozen()})
    assert brand_series(metrics, "ghost") == []


def test_crisis_info_names_what_an_active_or_emerging_crisis_is_about() -> None:
    """One series per brand scope while its crisis is active (1) or emerging (0), its terms
    the shown learned terms; none without a crisis. Nothing learned yet: the crisis
    vocabulary among the top audience terms, as the check shows it."""
    about = CrisisAbout(hashtags=("sandy",), hazards=("hurricane", "flood"),
                        places=("jersey", "hoboken", "shore"))
    base = snapshot("acme")
    current = [(base, 1800.0)]
    metrics = new_metrics()
    metrics.own_brand(brand("acme"))
    metrics.attach_brand_snapshots(lambda: current)

    def info() -> dict[str, float]:
        return {s.labels["terms"]: s.value for f in metrics.registry.collect()
                if f.name == "brandpulse_crisis_info" for s in f.samples
                if s.labels["scope"] == "acme"}

    assert info() == {}
    for state, value in (("active", 1.0), ("emerging", 0.0)):
        behaviour = replace(base.behaviour, crisis_active=state == "active",
                            crisis_state=state, crisis_about=about)
        current = [(replace(base, behaviour=behaviour), 1800.0)]
        # shown(): two hashtags, two hazards, then places, five in all
        assert info() == {"#sandy,hurricane,flood,jersey,hoboken": value}
    # nothing learned yet: "storm" (4) is the crisis word among the top terms
    behaviour = replace(base.behaviour, crisis_active=True, crisis_state="active")
    current = [(replace(base, behaviour=behaviour), 1800.0)]
    assert info() == {"storm": 1.0}


def test_crisis_terms_label_is_bounded_by_whole_terms() -> None:
    about = CrisisAbout(hazards=("a" * 30, "b" * 30), places=("c" * 30,))
    assert about.label() == "a" * 30 + "," + "b" * 30  # 61 characters; a third: 92 > 80
    assert len(about.label()) <= LABEL_MAX
    assert about.label(10) == ""  # no term fits: no partial term
    assert CrisisAbout().label() == ""
