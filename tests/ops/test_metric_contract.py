"""The ops kit's metric contract equals what the workers really register.

Why: dashboards and alerts are checked against tests/ops/metric_contract.py; this test ties
that list to streams.metrics, so a metric renamed in the package fails here instead of
blanking a panel in production. Behaviour metrics are not required until they ship.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

import streams.metrics as metrics_module
from streams.config import parse_brands
from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
from streams.engine import Engine
from streams.events import ConversationStatus, Rejection, ScheduledPost
from streams.metrics import BrandpulseMetrics, SourceMetrics
from streams.sources.synthetic import SCENARIO_BRANDS, crisis_window, generate_scenario
from streams.worker.gauges import GaugeFeed
from tests.ops import metric_contract as contract
from tests.unit.counting import Counts


def _exercised_worker_metrics() -> BrandpulseMetrics:
    """A worker's metrics after a day and more of the demo scenario with a storm and a
    scheduled sale, as the worker drives them: every family has samples, so its labels
    show."""
    # The demo brands and a Chatwoot inbox, whose conversations are resolved and reopened.
    brands = parse_brands({**SCENARIO_BRANDS, "brand": [
        *SCENARIO_BRANDS["brand"], {"name": "desk", "handles": {"chatwoot": ["12"]}}]})
    metrics = BrandpulseMetrics(CollectorRegistry())
    metrics.initialise(("audience", "posts"), brands.get)
    engine = Engine(brands)
    start = 1_790_000_000.0
    # two days, cut 10 minutes into the storm: its burst of mentions is a volume spike
    storm = crisis_window(start, 2 * 86400)
    assert storm is not None
    events = [e for e in generate_scenario(start, 2 * 86400) if e.created_at < storm[0] + 600]
    end = max(e.created_at for e in events)
    engine.apply(CrisisCommand(CommandAction.DECLARE, DeclaredCrisis(
        "Storm", ("storm",), ("storm",), None, start)))
    engine.ingest(ScheduledPost("sale-1", "psycho", "twitter", "PsychoShop",
                                "Flash sale: 30% off everything, shop now!", end, end + 3600),
                  end)
    observations = [o for o in engine.ingest_all(events, end + 60)
                    if not isinstance(o, Rejection)]
    for status_id, reopened in (("12/1@resolved", False), ("12/1@reopened", True)):
        observations += engine.ingest(ConversationStatus(
            status_id, "desk", "chatwoot", "12/1", end - 60 + reopened, end - 3600, reopened),
            end + 60)
    counts = Counts(metrics, brands.get)
    counts.record(observations)
    for brand in brands:
        metrics.own_brand(brand)
    feed = GaugeFeed(engine, brands, tick_seconds=1.0)
    feed.refresh(end + 60)
    metrics.attach_brand_snapshots(feed.snapshots)
    metrics.publish_global_crisis(True, 1)
    metrics.processed("audience", 0, 41, end, end + 1)
    metrics.update_consumer_lag("audience", 0, 50, None)
    metrics.registry.collect()  # a first scrape reads new brands' zeros
    counts.record(observations)
    return metrics


def _exercised_source_metrics() -> SourceMetrics:
    metrics = SourceMetrics(CollectorRegistry())
    metrics.initialise("bluesky")
    metrics.event("bluesky", "audience", 1_790_000_000.0)
    metrics.rejected("bluesky", "schema")
    metrics.skipped("bluesky", "not_ours")
    metrics.connected("bluesky", True)
    metrics.reconnected("bluesky")
    return metrics


def _registered(metrics: BrandpulseMetrics | SourceMetrics
                ) -> dict[str, tuple[str, frozenset[str]]]:
    """Family name as exposed (counters with _total) -> (type, label names), read from the
    registry as a scrape reads it."""
    out: dict[str, tuple[str, frozenset[str]]] = {}
    for family in metrics.registry.collect():
        exposed = f"{family.name}_total" if family.type == "counter" else family.name
        labels = frozenset().union(*(sample.labels for sample in family.samples)) - {"le"}
        out[exposed] = (family.type, labels)
    return out


def test_core_contract_matches_the_workers() -> None:
    """Same names, types and label names as streams.metrics registers."""
    registered = _registered(_exercised_worker_metrics())
    missing = set(contract.CORE) - set(registered)
    assert not missing, f"in the contract, not registered by the workers: {sorted(missing)}"
    for name, kind in contract.CORE.items():
        assert registered[name] == (kind, frozenset(contract.LABELS[name])), name
    for name, kind in contract.BEHAVIOUR.items():
        assert registered[name] == (kind, frozenset(contract.LABELS[name])), name


def test_workers_export_nothing_unknown() -> None:
    """A new worker metric is added to the contract (and so considered for dashboards)."""
    unknown = (set(_registered(_exercised_worker_metrics())) - set(contract.CORE)
               - set(contract.BEHAVIOUR))
    assert not unknown, sorted(unknown)


def test_source_contract_matches_the_ingest_metrics() -> None:
    """`brandpulse ingest` registers exactly the SOURCES families, with their labels."""
    registered = _registered(_exercised_source_metrics())
    assert set(registered) == set(contract.SOURCES)
    for name, kind in contract.SOURCES.items():
        assert registered[name] == (kind, frozenset(contract.LABELS.get(name, ("version",)))), name


def test_first_response_buckets_match() -> None:
    """The SLA dashboards' reading of the histogram assumes these bucket bounds."""
    assert tuple(metrics_module.FIRST_RESPONSE_BUCKETS) == contract.FIRST_RESPONSE_BUCKETS
