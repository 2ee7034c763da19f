"""The pipeline end to end against the real embedded broker: events in, /metrics out."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.plumbing.broker import EmbeddedBroker

from .harness import RECENT_DAY, TOPICS, Worker, consume_all, event_record, produce, wait_until

pytestmark = pytest.mark.broker
STARTUP = 90.0


def at(minutes: int) -> str:
    return f"{RECENT_DAY}T{10 + minutes // 60:02d}:{minutes % 60:02d}:00Z"


def scenario() -> list[tuple[str, bytes, bytes]]:
    """acme: m1 answered in 5 min; m2's reply arrives before m2; m3 never answered.
    globex only broadcasts. Plus a duplicate, malformed JSON and an unknown brand."""
    acme = {"brand": "acme", "author": "bob"}
    return [
        event_record("audience", id="m1", text="@AcmeSupport help", created_at=at(0), **acme),
        event_record("brand", id="r1", brand="acme", author="AcmeSupport", text="sure",
                     created_at=at(5), in_reply_to="m1"),
        event_record("brand", id="r2", brand="acme", author="AcmeSupport", text="done",
                     created_at=at(30), in_reply_to="m2"),
        event_record("audience", id="m2", text="@AcmeSupport order?", created_at=at(10), **acme),
        event_record("audience", id="m1", text="@AcmeSupport help", created_at=at(0), **acme),
        event_record("audience", id="m3", text="@AcmeSupport anyone?", created_at=at(20),
                     **acme),
        event_record("audience", id="s1", text="RT @AcmeSupport", created_at=at(21),
                     is_share=True, **acme),
        event_record("brand", id="b1", brand="globex", author="Globex", text="New range!",
                     created_at=at(40)),
        (TOPICS.audience_messages, b"acme", b"{not json"),
        event_record("audience", id="x1", brand="nobody", author="eve", text="hi",
                     created_at=at(41)),
        # Moves event time past m3's deadline (20 min + 1 h SLA + 60 s grace).
        event_record("audience", id="m4", text="@AcmeSupport later", created_at=at(150),
                     **acme),
    ]


def test_events_in_metrics_out(broker: EmbeddedBroker, brands_file: Path, tmp_path: Path,
                               app_id: str) -> None:
    worker = Worker(broker.url, brands_file, tmp_path, app_id)
    try:
        wait_until(lambda: (worker.value("brandpulse_assigned_partitions") or 0) == 6,
                   STARTUP, "partition assignment", worker.log)
        produce(broker.url, scenario())
        acme = {"brand": "acme", "platform": "twitter"}
        wait_until(lambda: worker.value("brandpulse_sla_breaches_total", policy="default",
                                        **acme) == 1,
                   60, "m3's SLA breach", worker.log)
        # Gauges are published by the SLA timer, once a second.
        wait_until(lambda: worker.value("brandpulse_unanswered_messages", **acme) == 2,
                   10, "the backlog gauge", worker.log)
        m = worker.metrics()

        def v(name: str, **labels: str) -> float | None:
            return m.get((name, frozenset(labels.items())))

        assert v("brandpulse_audience_messages_total", requires_reply="true", **acme) == 4
        assert v("brandpulse_audience_messages_total", requires_reply="false", **acme) == 1
        assert v("brandpulse_first_response_seconds_count", policy="default", **acme) == 2
        assert v("brandpulse_first_response_seconds_sum", policy="default", **acme) == 300 + 1200
        assert v("brandpulse_first_response_seconds_bucket", policy="default",
                 le="300.0", **acme) == 1
        assert v("brandpulse_sla_met_total", policy="default", **acme) == 2
        assert v("brandpulse_unanswered_messages", **acme) == 2  # m3 and m4
        assert v("brandpulse_brand_posts_total", kind="reply", **acme) == 2
        assert v("brandpulse_brand_posts_total", kind="broadcast", brand="globex",
                 platform="twitter") == 1
        assert v("brandpulse_duplicate_events_total", brand="acme") == 1
        assert v("brandpulse_events_rejected_total", reason="malformed_json") == 1
        assert v("brandpulse_events_rejected_total", reason="unknown_brand") == 1
        # One broadcast is too little evidence for a robot score (docs/metrics.md).
        robot = v("brandpulse_robot_score", brand="globex")
        assert robot is not None and robot != robot  # NaN
        assert v("brandpulse_reply_rate", brand="acme", window="24h") == pytest.approx(2 / 3)
        oldest = v("brandpulse_oldest_unanswered_age_seconds", **acme)
        assert oldest is not None and oldest >= 130 * 60  # m3 at 10:20, clock >= 12:30

        dead = [orjson.loads(v) for v in consume_all(broker.url, TOPICS.dead_letter, 2)]
        assert sorted(d["reason"] for d in dead) == ["malformed_json", "unknown_brand"]
        assert all(d["source_topic"] == TOPICS.audience_messages for d in dead)
    finally:
        worker.kill()
