"""Prometheus config, rules and promtool unit tests, plus the conventions alerts must follow
(severity, brand in the description, runbook section that exists, a firing and a quiet test)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

PROM_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
CONFIG = PROM_DIR / "prometheus.yml"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM_DIR / "tests").glob("*.test.yml"))
RUNBOOK = PROM_DIR.parents[1] / "docs" / "runbook.md"
RUNBOOK_PREFIX = "https://github.com/brandpulse/brandpulse/blob/main/docs/runbook.md#"
SEVERITIES = {"page", "ticket"}
RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)


def _alerts() -> list[dict[str, object]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += [r for r in group["rules"] if "alert" in r]
    return out


def _github_anchor(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_promtool_check_config(promtool: str) -> None:
    """The prometheus.yml docker-compose mounts is valid and finds every rule file."""
    result = _run(promtool, "check", "config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout + result.stderr


def test_promtool_check_rules(promtool: str) -> None:
    """Every rule file parses, with valid PromQL and templates."""
    result = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules(promtool: str) -> None:
    """The promtool unit tests: each alert fires on bad input and stays quiet on good input."""
    result = _run(promtool, "test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """Coverage of the promtool tests themselves: both outcomes for every alert."""
    fires: set[str] = set()
    quiet: set[str] = set()
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {str(a["alert"]) for a in _alerts()}
    assert names - fires == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown quiet"


def test_behaviour_rules_are_tested_on_their_own() -> None:
    """behaviour.test.yml loads only the behaviour file, so it can be validated separately."""
    doc = yaml.safe_load((PROM_DIR / "tests" / "behaviour.test.yml").read_text())
    assert doc["rule_files"] == ["../rules/brandpulse-behaviour.yml"]


@pytest.mark.parametrize("alert", _alerts(), ids=lambda a: str(a["alert"]))
def test_alert_conventions(alert: dict[str, object]) -> None:
    """Routing label, human text naming the brand, and a runbook section that exists."""
    labels = alert["labels"]
    annotations = alert["annotations"]
    assert isinstance(labels, dict) and isinstance(annotations, dict)
    assert labels["severity"] in SEVERITIES
    assert labels["team"] in {"brand-care", "platform"}
    assert annotations["summary"] and annotations["description"]
    if labels["team"] == "brand-care":
        assert "{{ $labels.brand }}" in annotations["description"]
    url = str(annotations["runbook_url"])
    assert url.startswith(RUNBOOK_PREFIX)
    anchors = {
        _github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    assert url.removeprefix(RUNBOOK_PREFIX) in anchors, "missing section in docs/runbook.md"


def test_recording_rule_names_follow_convention() -> None:
    """level:metric:operations, so that recorded series are recognisable in PromQL."""
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    assert RECORD_NAME.match(rule["record"]), rule["record"]


def test_scrape_config_covers_several_workers() -> None:
    """The brandpulse job scrapes more than one worker on the metrics port."""
    config = yaml.safe_load(CONFIG.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "brandpulse")
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert len(targets) >= 2 and all(t.endswith(":9100") for t in targets)
