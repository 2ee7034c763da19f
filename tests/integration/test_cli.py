"""The README's commands and the replay CLI, run as a user would run them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from streams.broker import EmbeddedBroker, free_port
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
    assert f"sent={len(events)}" in result.stderr and "failed=0" in result.stderr
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
    assert set(rows[2]) == {"lang", "sentiment", "crisis_terms", "promotional", "jokey"}
    table = tmp_path / "posts.csv"
    table.write_text('id,text\n1,"Flash sale: 30% off, shop now!"\n'
                     '2,"Earthquake: dead and injured"\n')
    out = subprocess.run([sys.executable, "-m", "streams.cli", "score", str(table),
                          "--column", "text"], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    first, second = (orjson.loads(line) for line in out.splitlines())
    assert first["promotional"] is True and second["crisis_terms"]


def test_demo_runs_and_prints_a_live_summary_of_the_three_brands() -> None:
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
    summaries = output.split("\n-- ")[1:]
    assert summaries, output[-3000:]
    last = summaries[-1]
    for brand in ("healthy", "robot", "slow"):
        assert re.search(rf"^{brand}\s+\d+", last, re.MULTILINE), last
    robot = float(re.search(r"^robot\s.*\s(\S+)$", last, re.MULTILINE).group(1))
    healthy = float(re.search(r"^healthy\s.*\s(\S+)$", last, re.MULTILINE).group(1))
    assert robot > healthy
