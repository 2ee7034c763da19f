"""The psychopath, live: an operator declares a crisis with the CLI, a brand posts a sale
on its hashtag, the worker flags it on the alerts topic and in /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from streams.plumbing.broker import EmbeddedBroker

from .harness import RECENT_DAY, TOPICS, Worker, consume_all, event_record, produce, wait_until

pytestmark = pytest.mark.broker


def brandpulse(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True,
                            text=True, timeout=60, check=True)
    return result.stdout


def test_declared_crisis_flags_a_tone_deaf_post(broker: EmbeddedBroker, brands_file: Path,
                                                tmp_path: Path, app_id: str) -> None:
    brandpulse("crisis", "declare", "Hurricane Sandy", "--broker", broker.url,
               "--keywords", "hurricane,sandy", "--hashtags", "#Sandy",
               "--start", f"{RECENT_DAY}T00:00:00Z")
    listed = brandpulse("crisis", "list", "--broker", broker.url)
    assert f"Hurricane Sandy: since {RECENT_DAY}T00:00:00.000Z, ongoing" in listed

    worker = Worker(broker.url, brands_file, tmp_path, app_id)
    try:
        wait_until(lambda: worker.value("brandpulse_assigned_partitions") == 6, 90,
                   "assignment", worker.log)
        produce(broker.url, [
            event_record("brand", id="p1", brand="globex", author="Globex",
                         text="Bored by the hurricane? 20% off everything, shop now! #Sandy",
                         created_at=f"{RECENT_DAY}T10:00:00Z"),
            event_record("brand", id="p2", brand="globex", author="Globex",
                         text="Our thoughts are with everyone affected. Stay safe.",
                         created_at=f"{RECENT_DAY}T10:05:00Z"),
            event_record("audience", id="m1", brand="globex", author="ann",
                         text="@Globex merci pour votre aide, c'est parfait !",
                         created_at=f"{RECENT_DAY}T10:06:00Z"),
        ])
        labels = {"brand": "globex", "reason": "hashtag_hijack"}
        wait_until(lambda: worker.value("brandpulse_tone_deaf_posts_total", **labels) == 1,
                   60, "the tone-deaf counter", worker.log)
        alerts = [orjson.loads(v) for v in consume_all(broker.url, TOPICS.alerts, 1)]
        assert [(a["post_id"], a["crisis"], a["reason"]) for a in alerts] == [
            ("p1", "Hurricane Sandy", "hashtag_hijack")]
        assert "Hurricane Sandy" in alerts[0]["explanation"]
        assert worker.value("brandpulse_messages_by_language_total", brand="globex",
                            lang="fr") == 1
        # The declared crisis is the context of the audience's sentiment.
        wait_until(lambda: (worker.value("brandpulse_audience_sentiment", brand="globex",
                                         context="crisis") or 0) > 0, 10,
                   "sentiment in crisis context", worker.log)

        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/api/brands/globex",
                                    timeout=5) as response:
            view = json.loads(response.read())
        assert view["brand"] == "globex"
        assert view["audience_sentiment"]["crisis"] > 0
        assert isinstance(view["top_audience_terms"], list)
    finally:
        worker.kill()
