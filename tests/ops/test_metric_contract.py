"""The ops kit's metric contract equals what the workers really register.

Why: dashboards and alerts are checked against tests/ops/metric_contract.py; this test ties
that list to streams.metrics, so a metric renamed in the package fails here instead of
blanking a panel in production. Behaviour metrics are not required until they ship.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

import streams.metrics as metrics_module
from tests.ops import metric_contract as contract


def _registered(cls: str = "BrandpulseMetrics") -> dict[str, tuple[str, tuple[str, ...]]]:
    """Family name as exposed (counters with _total) -> (type, label names)."""
    metrics = getattr(metrics_module, cls)(CollectorRegistry())
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for value in vars(metrics).values():
        name = getattr(value, "_name", None)
        kind = getattr(value, "_type", None)
        if isinstance(name, str) and isinstance(kind, str):
            exposed = f"{name}_total" if kind == "counter" else name
            out[exposed] = (kind, tuple(getattr(value, "_labelnames", ())))
        elif callable(getattr(value, "describe", None)):  # a custom (scrape-time) collector
            for family in value.describe():
                exposed = f"{family.name}_total" if family.type == "counter" else family.name
                out[exposed] = (family.type, tuple(getattr(family, "_labelnames", ())))
    return out


def test_core_contract_matches_the_workers() -> None:
    """Same names, types and label names as streams.metrics registers."""
    registered = _registered()
    missing = set(contract.CORE) - set(registered)
    assert not missing, f"in the contract, not registered by the workers: {sorted(missing)}"
    for name, kind in contract.CORE.items():
        assert registered[name] == (kind, contract.LABELS[name]), name


def test_workers_export_nothing_unknown() -> None:
    """A new worker metric is added to the contract (and so considered for dashboards)."""
    unknown = set(_registered()) - set(contract.CORE) - set(contract.BEHAVIOUR)
    assert not unknown, sorted(unknown)


def test_source_contract_matches_the_ingest_metrics() -> None:
    """`brandpulse ingest` registers exactly the SOURCES families, with their labels."""
    registered = _registered("SourceMetrics")
    assert set(registered) == set(contract.SOURCES)
    for name, kind in contract.SOURCES.items():
        assert registered[name] == (kind, contract.LABELS.get(name, ("version",))), name


def test_first_response_buckets_match() -> None:
    """The SLA dashboards' reading of the histogram assumes these bucket bounds."""
    assert tuple(metrics_module.FIRST_RESPONSE_BUCKETS) == contract.FIRST_RESPONSE_BUCKETS
