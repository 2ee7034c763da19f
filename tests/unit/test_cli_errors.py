"""The command line behaves like a well-made Unix tool: --version, one-line errors with the
fix (exit 2 for usage/config/input, 1 for runtime), tracebacks only with --debug, help for
every argument, and `score` output that can be matched to its input."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams import cli
from streams.cli import common
from streams.commands.replay import ReplayStats, format_summary

TWCS_HEADER = ("tweet_id,author_id,inbound,created_at,text,response_tweet_id,"
               "in_response_to_tweet_id\n")


def run(*args: str, stdin: str | None = None,
        env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    """`env`: variables to set, or to remove (None), in the command's environment."""
    changed = None if env is None else {
        k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True,
                          text=True, timeout=60, input=stdin, env=changed)


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("brandpulse: "), result.stderr
    assert "Traceback" not in result.stderr
    assert "Fix:" in lines[-1]
    return lines[-1]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once closed


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == "brandpulse 0.1.0"


@pytest.mark.parametrize("command", [["report"], ["score"], ["replay", "--broker",
                                                              "kafka://127.0.0.1:1"]])
def test_a_missing_file_is_one_line_and_exit_2(command: list[str], tmp_path: Path) -> None:
    line = one_line_error(run(*command, str(tmp_path / "nope.csv")), 2)
    assert "nope.csv: no such file" in line


def test_non_utf8_twcs_and_wrong_columns_are_one_line_and_exit_2(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes((TWCS_HEADER + "1,bob,True,Tue Oct 31 22:10:47 +0000 2017,"
                       "caf\xe9 @Acme,,\n").encode("latin-1"))
    assert "not UTF-8" in one_line_error(run("report", str(latin)), 2)
    columns = tmp_path / "columns.csv"
    columns.write_text("tweet_id,foo\n1,bar\n")
    assert "missing column" in one_line_error(run("report", str(columns)), 2)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("report", str(tmp_path / "nope.csv"), "--debug")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_bad_jsonl_lines_are_shown_and_the_error_says_no_valid_event(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"side": "brand", "id": "1"}\n{"broken\n')
    result = run("report", str(bad))
    line = one_line_error(result, 2)
    assert "no valid event" in line and "no brand is configured" not in result.stderr
    assert f"{bad}:1: rejected" in result.stderr and f"{bad}:2: rejected" in result.stderr


@pytest.mark.parametrize("command", [["topics", "create"], ["crisis", "list"],
                                     ["replay", "--synthetic"],
                                     ["worker", "--brands", "deploy/brands.example.toml",
                                      "--metrics-port", "0"]])
def test_an_unreachable_broker_fails_fast_in_one_line(command: list[str]) -> None:
    """The worker too (issue 23: it printed a 36-line bootstrap traceback)."""
    started = time.monotonic()
    port = closed_port()
    result = run(*command, "--broker", f"kafka://127.0.0.1:{port}",
                 env={"BRANDPULSE_INTERNAL_KEY": "k" * 32})
    assert time.monotonic() - started < 20  # not the clients' 30 s bootstrap wait
    line = one_line_error(result, 1)
    assert line == (f"brandpulse: cannot reach the broker at 127.0.0.1:{port}. Fix: start "
                    "Kafka (or `brandpulse demo`), or pass the right --broker / "
                    "BRANDPULSE_BROKER")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


def test_a_worker_whose_broker_is_not_kafka_stops_in_the_same_one_line(tmp_path: Path) -> None:
    """TCP is accepted, then closed (a broker going away after the check, or not Kafka):
    the Kafka client's bootstrap fails inside Faust, which logged a 36-line traceback and
    exited 1 with no fix; now the same line as an unreachable broker, exit 1."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    accepted, done = [0], threading.Event()

    def refuse() -> None:
        while not done.is_set():  # bounded by the test: accept and close at once
            with contextlib.suppress(OSError):
                listener.accept()[0].close()
                accepted[0] += 1

    thread = threading.Thread(target=refuse, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        result = run("worker", "--broker", f"kafka://127.0.0.1:{port}", "--brands",
                     "deploy/brands.example.toml", "--metrics-port", "0", "--data-dir",
                     str(tmp_path / "data"), env={"BRANDPULSE_INTERNAL_KEY": "k" * 32})
        elapsed = time.monotonic() - started
    finally:
        done.set()
        thread.join(5)
        listener.close()
    assert accepted[0] >= 2  # the CLI's check, then the Kafka client
    line = one_line_error(result, 1)
    assert line == (f"brandpulse: cannot reach the broker at 127.0.0.1:{port}. Fix: start "
                    "Kafka (or `brandpulse demo`), or pass the right --broker / "
                    "BRANDPULSE_BROKER")
    assert len(result.stderr.splitlines()) <= 3 and elapsed < 30


@pytest.mark.parametrize("command", [["crisis", "list"], ["crisis", "declare", "Storm"],
                                     ["worker", "--brands", "deploy/brands.example.toml"]])
def test_crisis_and_worker_without_the_internal_key_stop_in_one_line(
        command: list[str]) -> None:
    """They would write or believe unsigned control and share records: exit 2 at once,
    before any broker is contacted."""
    result = run(*command, "--broker", f"kafka://127.0.0.1:{closed_port()}",
                 env={"BRANDPULSE_INTERNAL_KEY": None, "BRANDPULSE_ALLOW_UNSIGNED": None})
    assert "needs BRANDPULSE_INTERNAL_KEY" in one_line_error(result, 2)
    short = run(*command, "--broker", "kafka://127.0.0.1:1",
                env={"BRANDPULSE_INTERNAL_KEY": "hunter2"})
    line = one_line_error(short, 2)
    assert "shorter than 32" in line and "hunter2" not in line


def test_replay_exits_1_with_a_readable_summary_when_deliveries_fail(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import streams.commands.replay

    def failing(events: Any, *args: Any, **kwargs: Any) -> ReplayStats:
        stats = ReplayStats(sent=len(events), brand_posts=1, audience_messages=len(events) - 1,
                            delivered=len(events) - 2, failed=2, elapsed_seconds=2.0)
        stats.errors.append("KafkaTimeoutError: Batch expired")
        return stats

    monkeypatch.setattr(streams.commands.replay, "replay", failing)
    monkeypatch.setattr(common, "check_broker", lambda broker: None)
    code = cli.main(["replay", "--synthetic", "--broker", "kafka://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 1
    assert "ReplayStats(" not in err
    assert "delivered" in err and "failed 2" in err and "Batch expired" in err
    assert err.strip().splitlines()[-1].startswith("brandpulse: replay: 2 of ")


def test_replay_summary_is_readable() -> None:
    stats = ReplayStats(sent=1200, brand_posts=200, audience_messages=1000, delivered=1200,
                        elapsed_seconds=2.0)
    assert format_summary(stats) == (
        "replay: sent 1,200 events (200 brand posts, 1,000 audience messages) in 2.0 s "
        "(600 ev/s); delivered 1,200, failed 0")


def test_score_carries_the_line_the_text_and_the_workers_crisis_signal(
        tmp_path: Path) -> None:
    from streams.core.crisis import crisis_signal

    texts = ["Flash sale: 30% off, shop now!", "", "Earthquake: dead and injured downtown"]
    result = run("score", "--with-text", stdin="\n".join(texts) + "\n")
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert [r["text"] for r in rows] == texts
    assert [r["crisis"] for r in rows] == [crisis_signal(t) for t in texts]
    assert rows[2]["crisis"] is True and rows[0]["crisis"] is False
    table = tmp_path / "posts.csv"
    table.write_text('id,text\n1,"two\nlines"\n2,"Flood: people evacuated"\n')
    rows = [orjson.loads(line) for line in run("score", str(table), "--column", "text")
            .stdout.splitlines()]
    assert [r["line"] for r in rows] == [2, 4]  # where each record starts
    assert "text" not in rows[0]
    missing = one_line_error(run("score", str(table), "--column", "body"), 2)
    assert "no column 'body'" in missing


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
    return found


def test_every_argument_has_help_and_partitions_only_where_used() -> None:
    commands = _subparsers(cli.build_parser())
    for name, parser in commands.items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name}: {action.dest} has no help"
        options = {o for a in parser._actions for o in a.option_strings}
        assert ("--partitions" in options) == (name in ("worker", "topics")), name
    crisis_end = next(a for a in commands["crisis"]._actions if a.dest == "end")
    assert "(end: default now)" not in crisis_end.help and "end: default now" in crisis_end.help


def test_ending_a_crisis_never_declared_fails_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`crisis end "No Such Crisis"` used to exit 0 while every worker ignored it."""
    import streams.commands.control as control
    from streams.core.crisis import CrisisCommand, DeclaredCrisis

    monkeypatch.setenv("BRANDPULSE_INTERNAL_KEY", "k" * 64)
    monkeypatch.setattr(common, "check_broker", lambda *args, **kwargs: None)
    monkeypatch.setattr(control, "declared_crises",
                        lambda settings, **kwargs: [DeclaredCrisis("Storm", ("storm",))])
    sent: list[CrisisCommand] = []
    monkeypatch.setattr(control, "send_crisis_command", lambda settings, c: sent.append(c))
    assert cli.main(["crisis", "end", "No Such Crisis"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no crisis named 'No Such Crisis'" in lines[0], lines
    assert "'Storm'" in lines[0] and "Fix:" in lines[0] and not sent
    assert cli.main(["crisis", "end", "Storm"]) == 0
    assert [c.crisis.name for c in sent] == ["Storm"]


def test_ending_a_crisis_that_already_ended_fails_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ending it again would move its end to now: the crisis reopened in between."""
    import streams.commands.control as control
    from streams.core.crisis import CrisisCommand, DeclaredCrisis

    monkeypatch.setenv("BRANDPULSE_INTERNAL_KEY", "k" * 64)
    monkeypatch.setattr(common, "check_broker", lambda *args, **kwargs: None)
    ended = DeclaredCrisis("Storm", ("storm",), start=1_700_000_000.0, end=1_700_003_600.0)
    ongoing = DeclaredCrisis("Flood", ("flood",), start=1_700_000_000.0)
    monkeypatch.setattr(control, "declared_crises", lambda settings, **kwargs: [ended, ongoing])
    sent: list[CrisisCommand] = []
    monkeypatch.setattr(control, "send_crisis_command", lambda settings, c: sent.append(c))
    assert cli.main(["crisis", "end", "Storm"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "'Storm' already ended at 2023-11-14T23:13:20.000Z" in lines[0]
    assert "Fix:" in lines[0] and not sent
    assert cli.main(["crisis", "end", "Flood"]) == 0
    assert [c.crisis.name for c in sent] == ["Flood"]


@pytest.mark.parametrize(("argv", "usage"), [
    (["report", "x.jsonl", "--jsn"], "brandpulse report"),
    (["ingest", "webhook", "--brands", "b", "--out", "o", "--listen", "h:1", "--jsn"],
     "brandpulse ingest webhook"),
])
def test_an_unknown_option_gets_its_commands_usage(
        argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Not the top-level usage, which lists no option of the command."""
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith(f"usage: {usage} ")
    assert f"{usage}: error: unrecognized arguments: --jsn" in err


def test_score_says_when_a_texts_language_is_not_analysed(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("I love it, thank you!\nEl servicio de la empresa es muy malo, "
                     "estoy muy enfadado\n", encoding="utf-8")
    english, spanish = (orjson.loads(line) for line in run("score", str(texts))
                        .stdout.splitlines())
    assert english["lang"] == "en" and "note" not in english
    assert spanish["lang"] == "other" and spanish["sentiment"] == 0.0
    assert "only English and French" in spanish["note"]
