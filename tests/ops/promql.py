"""Every PromQL expression of the ops kit, and a way to run them against a real Prometheus.

Why: a dashboard or rule that names a metric the workers do not export shows "No data"
or never fires, and nothing else notices. This module extracts the expressions of the
generated dashboards (panel targets, template-variable queries, annotation queries) and of
the recording/alert rule files, lists the ``brandpulse_*`` metrics each one references and
evaluates them through ``/api/v1/query``. It has no pytest dependency, so the lead can run
it against live workers:

    python tests/ops/promql.py --url http://127.0.0.1:9090 [--core-only] [--require-data]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO_ROOT / "grafana" / "dashboards"
RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"

Kind = Literal["panel", "variable", "annotation", "record", "alert"]
Status = Literal["error", "empty", "data"]

# Grafana's built-in interval/range variables, replaced by fixed durations so that the
# expression is valid PromQL outside Grafana.
GRAFANA_DURATIONS = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__interval_ms": "60000",
}
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_NAME_MATCHER = re.compile(r'__name__\s*(=~|=)\s*"([^"]*)"')
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_IDENT = re.compile(r"(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "atan2",
}  # fmt: skip


@dataclass(frozen=True)
class Expression:
    """One PromQL expression and where it comes from."""

    source: str  # file path relative to the repository
    location: str  # dashboard/panel/refId, or rule group/name
    kind: Kind
    raw: str  # as written (may hold Grafana variables or label_values())
    query: str  # evaluable PromQL

    @property
    def metrics(self) -> set[str]:
        """Raw ``brandpulse_*`` series this expression reads (not recorded series)."""
        return {m for m in referenced_names(self.query) if m.startswith("brandpulse_")}

    @property
    def recorded(self) -> set[str]:
        """Recording-rule outputs (level:metric:operations) this expression reads."""
        return {m for m in referenced_names(self.query) if ":" in m}


@dataclass
class Result:
    """Outcome of one evaluation: error (e.g. parse error, HTTP 400), empty, or data."""

    expression: Expression
    status: Status
    detail: str = ""
    series: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def substitute_grafana(expr: str) -> str:
    """Grafana macros -> PromQL: durations for interval variables, '.*' for template vars.

    Template variables only appear inside label matchers in our dashboards (brand=~"$brand"),
    where '.*' is what Grafana's "All" produces.
    """

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3) or ""
        return GRAFANA_DURATIONS.get(name, ".*")

    return _VAR.sub(repl, expr)


def variable_to_promql(query: str) -> str | None:
    """Grafana's Prometheus variable functions -> the PromQL they evaluate, if any."""
    q = query.strip()
    m = re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", q, re.DOTALL)
    if m:
        return m.group(1).strip()
    m = re.fullmatch(r"query_result\((.*)\)", q, re.DOTALL)
    if m:
        return m.group(1).strip()
    if re.fullmatch(r"(label_values\(\s*\w+\s*\)|label_names\(\)|metrics\(.*\))", q):
        return None  # label/metric listing, no PromQL to check
    return q


def referenced_names(expr: str) -> set[str]:
    """Metric names read by a PromQL expression (a lexical scan, no full parser).

    Strings, label matchers, label lists and ranges are removed first so that label names
    and values are not mistaken for metrics; names given via __name__ matchers are kept.
    """
    names: set[str] = set()
    for op, value in _NAME_MATCHER.findall(expr):
        if op == "=":
            names.add(value)
        else:
            names |= {v for v in value.split("|") if re.fullmatch(r"[a-zA-Z_:][\w:]*", v)}
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = _LABEL_LISTS.sub("", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    for ident in _IDENT.findall(text):
        if ident.lower() not in _KEYWORDS:
            names.add(ident)
    return names


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_expressions(paths: Iterable[Path]) -> list[Expression]:
    """Panel targets, template-variable queries and annotation queries of dashboard JSON."""
    out: list[Expression] = []
    for path in sorted(paths):
        model = json.loads(path.read_text(encoding="utf-8"))
        title = model.get("title", path.stem)
        for panel in _panels(model.get("panels", [])):
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if expr:
                    where = f"{title} / {panel.get('title', '?')} / {target.get('refId', '?')}"
                    out.append(
                        Expression(_rel(path), where, "panel", expr, substitute_grafana(expr))
                    )
        for var in model.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            raw = var.get("query")
            raw = raw.get("query") if isinstance(raw, dict) else raw
            promql = variable_to_promql(raw) if raw else None
            if promql:
                where = f"{title} / ${var.get('name')}"
                out.append(
                    Expression(_rel(path), where, "variable", raw, substitute_grafana(promql))
                )
        for ann in model.get("annotations", {}).get("list", []):
            expr = ann.get("expr") or (ann.get("target") or {}).get("expr")
            if expr:
                where = f"{title} / annotation {ann.get('name')}"
                out.append(
                    Expression(_rel(path), where, "annotation", expr, substitute_grafana(expr))
                )
    return out


def rule_expressions(paths: Iterable[Path]) -> list[Expression]:
    """Every recording and alerting rule expression of Prometheus rule files."""
    out: list[Expression] = []
    for path in sorted(paths):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                kind: Kind = "alert" if "alert" in rule else "record"
                name = rule.get("alert") or rule.get("record")
                expr = str(rule["expr"]).strip()
                out.append(Expression(_rel(path), f"{group['name']} / {name}", kind, expr, expr))
    return out


def recorded_by(paths: Iterable[Path]) -> set[str]:
    """Names of the series produced by recording rules."""
    out: set[str] = set()
    for path in paths:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups", []):
            out |= {r["record"] for r in group.get("rules", []) if "record" in r}
    return out


def all_expressions(
    dashboard_dir: Path = DASHBOARD_DIR, rules_dir: Path = RULES_DIR
) -> list[Expression]:
    """Dashboards first, then rules: the whole PromQL surface of the ops kit."""
    return dashboard_expressions(dashboard_dir.glob("*.json")) + rule_expressions(
        rules_dir.glob("*.yml")
    )


def core_only(expressions: Sequence[Expression], later: Iterable[str]) -> list[Expression]:
    """Drop expressions that read metrics not exported yet, directly or via recorded series."""
    later = set(later)
    pending: set[str] = set()
    while True:  # transitively: a record reading a pending record is pending too
        grown = pending | {
            e.location.split(" / ")[-1]
            for e in expressions
            if e.kind == "record" and (e.metrics & later or e.recorded & pending)
        }
        if grown == pending:
            break
        pending = grown
    return [e for e in expressions if not (e.metrics & later or e.recorded & pending)]


def evaluate(
    base_url: str,
    expressions: Sequence[Expression],
    *,
    timeout: float = 10.0,
    at: float | None = None,
) -> list[Result]:
    """Run each expression as an instant query; HTTP 400/422 = parse or evaluation error."""
    results: list[Result] = []
    endpoint = base_url.rstrip("/") + "/api/v1/query"
    for expression in expressions:
        params = {"query": expression.query}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(endpoint, data=data, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("error", str(exc))
            except (ValueError, OSError):
                detail = str(exc)
            results.append(Result(expression, "error", f"HTTP {exc.code}: {detail}"))
            continue
        except (urllib.error.URLError, TimeoutError, ValueError) as exc:
            results.append(Result(expression, "error", f"request failed: {exc}"))
            continue
        if body.get("status") != "success":
            results.append(Result(expression, "error", str(body.get("error", body))))
            continue
        result = body["data"]["result"]
        count = len(result) if isinstance(result, list) else 1
        results.append(Result(expression, "data" if count else "empty", series=count))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per expression; exit 1 on any error (or any empty with --require-data)."""
    parser = argparse.ArgumentParser(description="Evaluate the ops kit's PromQL.")
    parser.add_argument("--url", default="http://127.0.0.1:9090", help="Prometheus base URL")
    parser.add_argument("--core-only", action="store_true", help="skip behaviour-analysis metrics")
    parser.add_argument("--require-data", action="store_true", help="fail on empty results")
    parser.add_argument("--list", action="store_true", help="only list expressions and metrics")
    args = parser.parse_args(argv)

    expressions = all_expressions()
    if args.core_only:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from metric_contract import BEHAVIOUR_SERIES

        expressions = core_only(expressions, BEHAVIOUR_SERIES)
    if args.list:
        for e in expressions:
            print(f"{e.kind:10} {e.location}\n    {e.query}\n    metrics: {sorted(e.metrics)}")
        return 0
    failed = 0
    for r in evaluate(args.url, expressions):
        bad = r.status == "error" or (args.require_data and r.status == "empty")
        failed += bad
        mark = "FAIL" if bad else "ok  "
        print(f"{mark} {r.status:5} {r.series:4} {r.expression.location} {r.detail}")
    print(f"{len(expressions) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
