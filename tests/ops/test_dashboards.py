"""Grafana dashboards: committed JSON matches the generator, every query is valid PromQL and
names only metrics of the contract (or recorded series that the rule files define)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ops import metric_contract as contract
from tests.ops import promql

DASHBOARDS = sorted((promql.DASHBOARD_DIR).glob("*.json"))
RULE_FILES = sorted(promql.RULES_DIR.glob("*.yml"))


def test_committed_json_is_up_to_date(repo: Path, tmp_path: Path) -> None:
    """Hand edits to the JSON, or a generator change without regenerating, fail here."""
    subprocess.run(
        [sys.executable, "-m", "grafana.build", "--out", str(tmp_path)],
        cwd=repo,
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_text(encoding="utf-8") for p in DASHBOARDS}
    assert sorted(fresh) == sorted(committed), "run: python -m grafana.build"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale dashboards {stale}; run: python -m grafana.build"


def test_dashboards_are_well_formed() -> None:
    """Unique uids and panel ids, the datasource variable everywhere, refIds on targets."""
    assert {p.name for p in DASHBOARDS} >= {
        "brandpulse-scorecard.json",
        "brandpulse-reply-sla.json",
        "brandpulse-crisis.json",
        "brandpulse-pipeline.json",
    }
    uids = set()
    for path in DASHBOARDS:
        model = json.loads(path.read_text(encoding="utf-8"))
        assert model["uid"] not in uids
        uids.add(model["uid"])
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids)), path.name
        names = [v["name"] for v in model["templating"]["list"]]
        assert "datasource" in names, path.name
        for panel in model["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", (path.name, panel["title"])
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert ref_ids and all(ref_ids) and len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_scorecard_has_one_row_per_brand() -> None:
    """The scorecard repeats a row over the brand variable."""
    model = json.loads((promql.DASHBOARD_DIR / "brandpulse-scorecard.json").read_text())
    rows = [p for p in model["panels"] if p["type"] == "row"]
    assert any(r.get("repeat") == "brand" for r in rows)
    brand = next(v for v in model["templating"]["list"] if v["name"] == "brand")
    assert brand["multi"] and brand["includeAll"]


def test_extraction_covers_every_kind_of_query() -> None:
    """Panels, template variables, annotations, records and alerts are all extracted."""
    kinds = {e.kind for e in promql.all_expressions()}
    assert kinds == {"panel", "variable", "annotation", "record", "alert"}


def test_referenced_metrics_are_in_the_contract() -> None:
    """A dashboard or rule naming a metric the workers do not export fails here."""
    unknown = {
        (e.location, m)
        for e in promql.all_expressions()
        for m in e.metrics
        if m not in contract.ALL_SERIES
    }
    assert not unknown, sorted(unknown)


def test_recorded_series_used_are_defined() -> None:
    """Dashboards and alerts may only read recorded series that a rule file records."""
    defined = promql.recorded_by(RULE_FILES)
    missing = {(e.location, r) for e in promql.all_expressions() for r in e.recorded - defined}
    assert not missing, sorted(missing)


def test_every_core_metric_is_used() -> None:
    """The contract's metrics all reach a dashboard or a rule: nothing exported goes unseen."""
    used = set().union(*(e.metrics for e in promql.all_expressions()))
    unused = [
        name
        for name in contract.CORE | contract.BEHAVIOUR
        if not used & contract.series_names({name: (contract.CORE | contract.BEHAVIOUR)[name]})
    ]
    assert not unused, unused


def test_behaviour_panels_are_marked() -> None:
    """Panels that need the behaviour metrics say so, so they can be told apart until shipped."""
    everything = promql.all_expressions()
    core = set(promql.core_only(everything, contract.BEHAVIOUR_SERIES))
    pending = [e for e in everything if e.kind == "panel" and e not in core]
    assert pending, "expected behaviour panels"
    for path in DASHBOARDS:
        model = json.loads(path.read_text(encoding="utf-8"))
        for panel in model["panels"]:
            exprs = {t.get("expr") for t in panel.get("targets", [])}
            if any(e.raw in exprs and e.source.endswith(path.name) for e in pending):
                assert "[behaviour]" in panel.get("description", ""), panel["title"]


def test_behaviour_rules_are_in_their_own_file() -> None:
    """Rules reading behaviour metrics live only in brandpulse-behaviour.yml."""
    everything = promql.rule_expressions(RULE_FILES)
    core = set(promql.core_only(everything, contract.BEHAVIOUR_SERIES))
    for e in everything:
        if e not in core:
            assert e.source.endswith("brandpulse-behaviour.yml"), e.location


@pytest.mark.prometheus
def test_every_expression_is_valid_promql(empty_prometheus: str) -> None:
    """A real Prometheus parses every expression; syntax errors come back as HTTP 400."""
    expressions = promql.all_expressions()
    results = promql.evaluate(empty_prometheus, expressions)
    errors = [(r.expression.location, r.detail) for r in results if r.status == "error"]
    assert not errors, errors
    assert len(results) == len(expressions) > 50


@pytest.mark.prometheus
def test_a_syntax_error_is_reported(empty_prometheus: str) -> None:
    """The parse check itself works: broken PromQL is reported as an error."""
    bad = promql.Expression("test", "broken", "panel", "sum(rate(x[5m])", "sum(rate(x[5m])")
    (result,) = promql.evaluate(empty_prometheus, [bad])
    assert result.status == "error" and "400" in result.detail


def test_referenced_names_ignores_labels_and_functions() -> None:
    """The lexical scan keeps metric names only."""
    names = promql.referenced_names(
        'sum by (brand, le) (rate(brandpulse_x_bucket{brand=~"brandpulse_y"}[5m])) '
        "/ on (brand) group_left brand:brandpulse_z:rate5m > 0.5 or vector(0) "
        'or {__name__=~"brandpulse_a_total|brandpulse_b_total"}'
    )
    assert names == {
        "brandpulse_x_bucket",
        "brand:brandpulse_z:rate5m",
        "brandpulse_a_total",
        "brandpulse_b_total",
    }
    assert promql.variable_to_promql('label_values(up{job="a"}, instance)') == 'up{job="a"}'
    assert promql.substitute_grafana('x{b=~"$brand"}[$__rate_interval]') == 'x{b=~".*"}[5m]'
