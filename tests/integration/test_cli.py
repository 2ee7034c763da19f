"""The README's commands and the replay CLI, run as a user would run them."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streams.plumbing.broker import EmbeddedBroker, free_port
from streams.sources.jsonl import write_jsonl
from streams.sources.synthetic import generate_scenario

from .harness import TOPICS, consume_all

pytestmark = pytest.mark.broker


def test_replay_cli_produces_a_jsonl_file_into_both_topics_keyed_by_brand(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = generate_scenario(1_800_000_000.0, 4 * 3600, seed=3)
    path = tmp_path / "events.jsonl"
    write_jsonl(events, path)
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(path), "--broker", broker.url,
         "--quiet"], capture_output=True, text=True, timeout=120, check=True)
    assert f"replay: sent {len(events):,} events" in result.stderr
    assert "failed 0" in result.stderr and "ReplayStats(" not in result.stderr
    expected = Counter(e.side.value for e in events)
    posts = consume_all(broker.url, TOPICS.brand_posts, expected["brand"])
    messages = consume_all(broker.url, TOPICS.audience_messages, expected["audience"])
    assert (len(posts), len(messages)) == (expected["brand"], expected["audience"])
    assert {orjson.loads(v)["id"] for v in posts} == {
        e.id for e in events if e.side.value == "brand"}


def test_score_cli_reads_lines_and_csv_columns(tmp_path: Path) -> None:
    lines = tmp_path / "texts.txt"
    lines.write_text("I love it, thank you!\nC'est nul, je suis très déçu\n\n")
    out = subprocess.run([sys.executable, "-m", "streams.cli", "score", str(lines)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    rows = [orjson.loads(line) for line in out.splitlines()]
    assert len(rows) == 3  # one per input line, the empty one included
    assert rows[0]["lang"] == "en" and rows[0]["sentiment"] > 0.05
    assert rows[1]["lang"] == "fr" and rows[1]["sentiment"] < -0.05
    assert set(rows[2]) == {"line", "lang", "sentiment", "crisis_terms", "crisis",
                            "promotional", "jokey"}
    table = tmp_path / "posts.csv"
    table.write_text('id,text\n1,"Flash sale: 30% off, shop now!"\n'
                     '2,"Earthquake: dead and injured"\n')
    out = subprocess.run([sys.executable, "-m", "streams.cli", "score", str(table),
                          "--column", "text"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    first, second = (orjson.loads(line) for line in out.splitlines())
    assert first["promotional"] is True and second["crisis_terms"]


def test_demo_runs_and_prints_a_live_summary_of_the_five_brands() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--metrics-port", str(port),
         "--seconds", "45"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        output, _ = process.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        pytest.fail(f"demo did not stop by itself:\n{output[-3000:]}")
    assert process.returncode == 0, output[-3000:]
    assert f"http://127.0.0.1:{port}/metrics" in output
    assert "legend:" in output
    summaries = output.split("\n-- ")[1:]
    assert summaries, output[-3000:]
    last = summaries[-1]
    assert not re.search(r"\bnan\b", output, re.IGNORECASE), last
    for brand in ("healthy", "robot", "slow", "psycho", "airhead"):
        assert re.search(rf"^{brand}\s+\d+", last, re.MULTILINE), last
    robot_at = 8  # brand, need reply, answered, breaches, waiting, oldest, mean, rate, robot
    robot = float(re.search(r"^robot\s.*$", last, re.MULTILINE).group(0).split()[robot_at])
    healthy = float(re.search(r"^healthy\s.*$", last, re.MULTILINE).group(0).split()[robot_at])
    assert robot > healthy, last
    # The pre-publish check, live: the robot's broadcast waits for its backlog (hold).
    assert re.search(r"^check\s+robot draft .*: hold: ", output, re.MULTILINE), last


def _processes_with(text: str) -> list[int]:
    """PIDs whose command line mentions `text` (the demo's work directory)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_the_worker_and_the_broker_and_free_the_port(
        stop: signal.Signals) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--metrics-port", str(port),
         "--seconds", "300"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the first summary
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("-- "):
                break
        output = "".join(lines)
        assert any(line.startswith("-- ") for line in lines), output[-3000:]
        pids = [int(p) for p in re.findall(r"(?:worker|broker) pid (\d+)", output)]
        assert len(pids) == 2, output
        process.send_signal(stop)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, rest[-2000:]
    assert "stopping" in rest
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if Path(f"/proc/{p}").exists()
                and "Z" not in Path(f"/proc/{p}/stat").read_text().split()[2]], pids
    workdir = re.search(r"^logs\s+(\S+)", output, re.MULTILINE).group(1)
    assert _processes_with(workdir) == []
    with socket.socket() as probe:  # nothing listens on the metrics port any more
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
        probe.bind(("127.0.0.1", port))
        probe.listen()
