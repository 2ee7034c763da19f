"""The demo's live summary (legend, no NaN on screen) and its metrics-port check."""

from __future__ import annotations

import math
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.commands.demo import (
    DEFAULT_METRICS_PORT,
    SUMMARY_LEGEND,
    choose_metrics_port,
    format_summary,
    port_is_free,
    read_metrics,
)
from streams.config import parse_brands
from streams.core.sla_observations import MessageCounted
from streams.core.totals import BrandTotals
from streams.metrics import BrandpulseMetrics
from streams.plumbing.web import WebServer


def test_summary_never_shows_nan_and_has_the_new_columns() -> None:
    values = {
        ("brandpulse_audience_messages_total", "healthy"): 10.0,
        ("brandpulse_first_response_seconds_count", "healthy"): 0.0,
        ("brandpulse_reply_rate", "healthy"): math.nan,
        ("brandpulse_robot_score", "healthy"): math.nan,
        ("brandpulse_templated_reply_ratio", "healthy"): math.nan,
        ("brandpulse_audience_messages_total", "Psycho"): 5.0,
        ("brandpulse_tone_deaf_posts_total", "Psycho"): 3.0,
        ("brandpulse_crisis_active", "Psycho"): 1.0,
        ("brandpulse_topic_alignment", "airhead"): 0.04,
        ("brandpulse_crisis_active", "global"): 0.0,
        ("brandpulse_audience_volume_rate", "Psycho"): 144.0,
        ("brandpulse_audience_volume_baseline", "Psycho"): 24.0,
    }
    text = format_summary(values)
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
    lines = text.splitlines()
    for column in ("mean min", "reply rate", "crisis", "tone-deaf", "tmpl", "align", "vol x"):
        assert column in lines[0]
    assert [line.split()[0] for line in lines[1:-1]] == ["airhead", "healthy", "Psycho"]
    assert lines[-1] == "crisis across brands: none"
    psycho = lines[3].split()
    assert psycho[-5:-3] == ["1", "3"]  # crisis on, three tone-deaf posts
    assert psycho[-1] == "6.0"  # six times its usual volume
    assert "global" not in text


def test_the_legend_explains_every_column_and_the_window() -> None:
    for term in ("need reply", "answered", "breaches", "waiting", "oldest h", "mean min",
                 "reply rate", "robot", "crisis", "tone-deaf", "tmpl", "align", "vol x",
                 "24 h"):
        assert term in SUMMARY_LEGEND, term


def test_a_taken_port_is_refused_in_one_line_or_replaced_by_a_free_one() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert not port_is_free(taken)
        port, message = choose_metrics_port(taken)
        assert port is None and message is not None and str(taken) in message
        result = subprocess.run([sys.executable, "-m", "streams.cli", "demo",
                                 "--metrics-port", str(taken)], capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "already in use" in result.stderr
    assert result.stdout == ""  # nothing started, no metrics URL printed
    port, note = choose_metrics_port(None)
    assert port is not None and port_is_free(port)
    assert (port == DEFAULT_METRICS_PORT) == (note is None)
    assert choose_metrics_port(0)[0] not in (None, 0)


def test_the_default_port_taken_means_a_free_port_said_in_one_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import streams.commands.demo

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setattr(streams.commands.demo, "DEFAULT_METRICS_PORT", taken)
        port, note = choose_metrics_port(None)
    assert port is not None and port != taken
    assert note is not None and f"on port {port} instead" in note


def test_a_brands_own_crisis_is_shown_apart_from_the_one_across_brands() -> None:
    """The crisis column showed the global gauge for every brand, while /api/brands said
    crisis_active false for the brands outside the storm."""
    values = {("brandpulse_audience_messages_total", "healthy"): 3.0,
              ("brandpulse_crisis_active", "healthy"): 0.0,
              ("brandpulse_audience_messages_total", "psycho"): 9.0,
              ("brandpulse_crisis_active", "psycho"): 1.0,
              ("brandpulse_crisis_active", "global"): 1.0}
    lines = format_summary(values).splitlines()
    crisis = 9  # the column's place in a row (four headers are two words)
    assert [line.split()[crisis] for line in lines[1:3]] == ["0", "1"]
    assert lines[-1].startswith("crisis across brands: detected")


def test_the_first_summary_reads_the_counts_not_a_new_brands_zeros() -> None:
    """The worker shows a new brand's counters at 0 to one scrape (for Prometheus' rate());
    the demo's first summary was that scrape: need 0 while customers waited."""
    config = next(iter(parse_brands({"brand": [{"name": "healthy",
                                                "handles": {"twitter": ["h"]}}]})))
    metrics = BrandpulseMetrics()
    metrics.own_brand(config)
    totals = BrandTotals(config)
    totals.on_message_counted(MessageCounted("healthy", "twitter", True), 14)
    metrics.publish_totals({"healthy": totals.frozen()})
    server = WebServer(metrics.registry, port=0)
    port = server.start()
    try:
        values = read_metrics(port)
    finally:
        server.stop()
    assert values[("brandpulse_audience_messages_total", "healthy")] == 14.0


class _FakeWorker:
    pid = 4242

    def __init__(self, exit_code: int | None) -> None:
        self.returncode = exit_code

    def poll(self) -> int | None:
        return self.returncode

    def terminate(self) -> None:
        self.returncode = 0

    def wait(self, timeout: float | None = None) -> int:
        return 0


def _run_demo_without_processes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                exit_code: int | None) -> tuple[int, Path]:
    import streams.commands.demo as demo
    import streams.commands.replay

    workdir = tmp_path / "brandpulse-demo-x"

    def mkdtemp(prefix: str) -> str:
        workdir.mkdir()
        return str(workdir)

    monkeypatch.setattr(demo.tempfile, "mkdtemp", mkdtemp)
    monkeypatch.setattr(demo, "create_topics", lambda settings: None)
    monkeypatch.setattr(demo, "demo_events", lambda: [])
    monkeypatch.setattr(demo, "_scrape", lambda port: {})
    monkeypatch.setattr(demo.subprocess, "Popen",
                        lambda *args, **kwargs: _FakeWorker(exit_code))
    monkeypatch.setattr(streams.commands.replay, "replay", lambda **kwargs: None)
    code = demo.run_demo(metrics_port=0, broker="kafka://127.0.0.1:9", stop_after=0.5)
    return code, workdir


def test_the_demo_says_it_keeps_running_and_removes_its_folder(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, workdir = _run_demo_without_processes(monkeypatch, tmp_path, None)
    out = capsys.readouterr().out
    assert code == 0 and not workdir.exists()
    assert "then the worker keeps running in live time until Ctrl-C" in out
    assert "replay done: the worker keeps running in live time" in out
    assert "removed when the demo stops" in out


def test_the_demo_keeps_its_folder_when_the_worker_failed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, workdir = _run_demo_without_processes(monkeypatch, tmp_path, 1)
    assert code == 1 and (workdir / "worker.log").exists()
    assert f"see {workdir}/worker.log" in capsys.readouterr().out
