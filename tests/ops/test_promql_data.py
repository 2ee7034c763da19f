"""Every dashboard query and recording rule returns data when the contract's metrics exist.

Why: parsing proves syntax, not meaning. Here synthetic series shaped exactly like the metric
contract (names, types, labels, histogram buckets) are backfilled into a real Prometheus
with `promtool tsdb create-blocks-from openmetrics`, the repository's rule files are loaded,
and each expression must come back non-empty. A wrong label, suffix or recorded name shows
up as "empty". The same check runs against live workers with
``python tests/ops/promql.py --url ... --require-data``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.ops import metric_contract as contract
from tests.ops import promql
from tests.ops.conftest import start_prometheus, stop_process

MINUTES = 180
STEP_S = 60
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "brand": ("acme", "globex"),
    "platform": ("twitter", "instagram"),
    "requires_reply": ("true", "false"),
    "kind": ("broadcast", "reply"),
    "window": ("1h", "24h"),
    "topic": ("brand-posts", "audience-messages"),
    "reason": contract.REJECT_REASONS,
    "partition": ("0", "1"),
    "version": ("0.1.0",),
    "scope": ("acme", "global"),
    "context": ("crisis", "normal"),
    "lang": ("en", "fr", "other"),
    "source": ("bluesky", "webhook"),
    "side": ("brand", "audience"),
    "policy": ("default", "vip"),
    "agent": ("JB", "other"),
    "crisis": ("storm",),  # scheduled_tone_deaf_info (missing on main)
    "terms": ("outage, refund, app",),  # audience_volume_terms_info, crisis_info
    "group": ("airlines",),  # brand_group_info
}
# tone-deaf reasons differ from reject reasons
TONE_DEAF_REASONS = ("promotional_in_crisis", "jokey_in_crisis", "hashtag_hijack")


def _label_sets(family: str) -> list[dict[str, str]]:
    sets: list[dict[str, str]] = [{}]
    for name in contract.LABELS[family]:
        values = (
            TONE_DEAF_REASONS
            if family.startswith("brandpulse_tone_deaf") and name == "reason"
            else LABEL_VALUES[name]
        )
        sets = [s | {name: v} for s in sets for v in values]
    ingest = family in contract.SOURCES and family != "brandpulse_build_info"
    for i, s in enumerate(sets):
        s["job"] = "brandpulse-ingest" if ingest else "brandpulse"
        s["instance"] = "ingest:9101" if ingest else f"worker-{i % 2 + 1}:9100"
    return sets


def _fmt(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def synthetic_openmetrics(end: float) -> str:
    """OpenMetrics text for every contract family over MINUTES minutes ending at `end`."""
    times = [end - (MINUTES - i) * STEP_S for i in range(MINUTES + 1)]
    lines: list[str] = []
    families = contract.CORE | contract.BEHAVIOUR | contract.SOURCES
    for family, kind in sorted(families.items()):
        base = family.removesuffix("_total") if kind == "counter" else family
        lines.append(f"# TYPE {base} {kind}")
        for labels in _label_sets(family):
            for i, t in enumerate(times):
                if kind == "counter":
                    lines.append(f"{base}_total{_fmt(labels)} {i * 3} {t:.3f}")
                elif kind == "gauge":
                    lines.append(f"{base}{_fmt(labels)} {1 if 'crisis' in family else 0.5} {t:.3f}")
                else:
                    buckets = (
                        contract.FIRST_RESPONSE_BUCKETS
                        if "_response_seconds" in family
                        else (0.1, 1.0)
                    )
                    for j, le in enumerate(buckets):
                        count = i * (j + 1)
                        lines.append(
                            f"{base}_bucket{_fmt(labels | {'le': str(le)})} {count} {t:.3f}"
                        )
                    total = i * (len(buckets) + 1)
                    lines.append(f"{base}_bucket{_fmt(labels | {'le': '+Inf'})} {total} {t:.3f}")
                    lines.append(f"{base}_count{_fmt(labels)} {total} {t:.3f}")
                    lines.append(f"{base}_sum{_fmt(labels)} {total * 100} {t:.3f}")
    for name, labels in (
        ("up", {"job": "brandpulse", "instance": "worker-1:9100"}),
        (
            "kafka_consumergroup_lag",
            {
                "job": "kafka",
                "consumergroup": "brandpulse",
                "topic": "brand-posts",
                "partition": "0",
            },
        ),
    ):
        lines.append(f"# TYPE {name} gauge")
        lines += [f"{name}{_fmt(labels)} 1 {t:.3f}" for t in times]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def loaded_prometheus(tmp_path_factory: pytest.TempPathFactory, promtool: str) -> Iterator[str]:
    """Prometheus with backfilled contract metrics and the repository's rules evaluated."""
    if shutil.which("prometheus") is None:
        pytest.skip(
            "prometheus not installed (apt-get install -y --no-install-recommends prometheus)"
        )
    workdir = tmp_path_factory.mktemp("prometheus-data")
    source = workdir / "metrics.om"
    source.write_text(synthetic_openmetrics(time.time() - 30), encoding="utf-8")
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(workdir / "data")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    rules = sorted(str(p) for p in promql.RULES_DIR.glob("*.yml"))
    config = "global:\n  evaluation_interval: 1s\nrule_files:\n" + "".join(
        f"  - {r}\n" for r in rules
    )
    proc, url = start_prometheus(workdir, config)
    try:
        _wait_for_rules(url)
        yield url
    finally:
        stop_process(proc)


def _wait_for_rules(url: str, timeout_s: float = 30.0) -> None:
    """Bounded wait until every rule group has been evaluated at least twice."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as response:
            groups = json.loads(response.read())["data"]["groups"]
        if groups and all(g.get("lastEvaluation", "").startswith("2") for g in groups):
            time.sleep(2.5)  # one more cycle for rules reading other groups' records
            return
        time.sleep(0.5)
    raise TimeoutError("rules were not evaluated in time")


@pytest.mark.prometheus
def test_every_non_alert_expression_has_data(loaded_prometheus: str) -> None:
    """Panels, variables, annotations and recording rules all return series."""
    expressions = [e for e in promql.all_expressions() if e.kind != "alert"]
    results = promql.evaluate(loaded_prometheus, expressions)
    bad = [(r.expression.location, r.status, r.detail) for r in results if r.status != "data"]
    assert not bad, bad
    assert len(results) > 50
    # and the check can fail: a misspelt metric is reported empty
    typo = promql.Expression("t", "typo", "panel", "x", "brandpulse_robot_scores")
    assert promql.evaluate(loaded_prometheus, [typo])[0].status == "empty"


@pytest.mark.prometheus
def test_alert_expressions_evaluate(loaded_prometheus: str) -> None:
    """Alert expressions run without error on contract-shaped data (firing is up to the data)."""
    results = promql.evaluate(
        loaded_prometheus, promql.rule_expressions(promql.RULES_DIR.glob("*.yml"))
    )
    errors = [(r.expression.location, r.detail) for r in results if r.status == "error"]
    assert not errors, errors


def test_synthetic_data_uses_only_contract_names() -> None:
    """The fixture data itself follows the contract (so it cannot hide a naming mistake)."""
    text = synthetic_openmetrics(1_700_000_000.0)
    names = {line.split("{")[0] for line in text.splitlines() if line and not line.startswith("#")}
    assert names - {"up", "kafka_consumergroup_lag"} <= contract.ALL_SERIES
