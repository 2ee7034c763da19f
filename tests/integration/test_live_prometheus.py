"""Proof against a real Prometheus: real workers, fed by a replay through the embedded
broker, scraped by Debian's `prometheus` with the project's own rules; then every
dashboard query and every recording and alert expression is evaluated over HTTP."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streams.commands.control import send_crisis_command
from streams.commands.demo import demo_events, write_demo_brands_toml
from streams.commands.replay import replay
from streams.config import settings_from
from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
from streams.events import Side, SocialEvent
from streams.plumbing.broker import EmbeddedBroker, free_port
from streams.wire import format_rfc3339, parse_rfc3339
from tests.ops.conftest import start_prometheus, stop_process
from tests.ops.promql import all_expressions, evaluate

from .harness import (
    RECENT_DAY,
    TOPICS,
    Worker,
    event_record,
    post_signed,
    produce,
    start_ingest,
    wait_until,
)

pytestmark = [pytest.mark.broker, pytest.mark.prometheus]
REPO = Path(__file__).resolve().parents[2]
RULES = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
REPLAY_SECONDS = 25.0
# Series the scenario cannot produce: nothing older than 7 days, no expiry within 2 days,
# and the broker-side exporter of the compose stack is not part of this test.
# Series this replay cannot produce: late and expired messages, the consumer-group lag of
# a Kafka exporter, what a brand's own detected crisis is about (the scenario declares its
# storm), and the terms of a volume spike (a spike needs a day of baseline first).
# tests/ops/test_promql_data.py proves those queries on data written for them.
NOT_IN_SCENARIO = {"brandpulse_late_events_total", "brandpulse_messages_expired_unanswered_total",
                   "kafka_consumergroup_lag", "brandpulse_crisis_info",
                   "brandpulse_audience_volume_terms_info"}


def prometheus_config(worker_ports: list[int], ingest_port: int) -> str:
    """deploy/prometheus/prometheus.yml with local targets, 1 s intervals, absolute rules."""
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    config["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s"})
    config["rule_files"] = [str(path) for path in RULES]
    config.pop("alerting", None)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "brandpulse")
    job["static_configs"] = [{"targets": [f"127.0.0.1:{p}" for p in worker_ports]}]
    ingest = next(j for j in config["scrape_configs"] if j["job_name"] == "brandpulse-ingest")
    ingest["static_configs"] = [{"targets": [f"127.0.0.1:{ingest_port}"]}]
    config["scrape_configs"] = [job, ingest]
    return yaml.safe_dump(config)


def query(url: str, expr: str) -> list[dict[str, Any]]:
    data = urllib.parse.urlencode({"query": expr}).encode()
    with urllib.request.urlopen(f"{url}/api/v1/query", data=data, timeout=10) as response:
        return json.loads(response.read())["data"]["result"]


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus missing")
def test_dashboards_and_rules_against_real_workers_and_prometheus(
        broker: EmbeddedBroker, tmp_path: Path, app_id: str) -> None:
    brands_path = tmp_path / "brands.toml"
    write_demo_brands_toml(brands_path)
    workers = [Worker(broker.url, brands_path, tmp_path, app_id, f"worker-{i}") for i in (1, 2)]
    # A live source (the generic webhook, recording to a file) for the Sources row.
    hook_port, ingest_port, secret = free_port(), free_port(), "hook-secret"
    ingest = start_ingest(tmp_path, [
        "webhook", "--brands", str(brands_path), "--listen", f"127.0.0.1:{hook_port}",
        "--out", str(tmp_path / "recorded.jsonl"), "--metrics-port", str(ingest_port)],
        {"BRANDPULSE_WEBHOOK_SECRET": secret})
    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    prometheus, url = start_prometheus(prom_dir, prometheus_config([w.port for w in workers],
                                                                   ingest_port))
    try:
        hook = f"http://127.0.0.1:{hook_port}/events"
        line = orjson.dumps({"side": "audience", "id": "hook-1", "brand": "healthy",
                             "platform": "twitter", "author": "someone", "text": "hello",
                             "created_at": format_rfc3339(time.time() - 30)})
        wait_until(lambda: post_signed(hook, line, secret) == 200, 60, "the webhook source",
                   lambda: (tmp_path / "ingest.log").read_text(errors="replace"))
        assert post_signed(hook, line, "forged") == 401  # rejected, counted
        assert post_signed(hook, line, secret) == 200  # a duplicate: skipped, counted
        def split() -> bool:
            counts = [w.value("brandpulse_assigned_partitions") for w in workers]
            return None not in counts and sum(counts) == 6  # type: ignore[arg-type]

        wait_until(split, 120, "two workers sharing the partitions",
                   lambda: workers[0].log() + workers[1].log())
        end = parse_rfc3339(f"{RECENT_DAY}T12:00:00Z")
        events = demo_events(end=end)
        # A storm is declared for the last minute; only the robot brand posts a sale on its
        # hashtag then (checked below), so the robot is tone-deaf too.
        crisis_start = end - 60
        assert not [e for e in events if isinstance(e, SocialEvent) and e.side is Side.BRAND
                    and e.in_reply_to is None and e.created_at >= crisis_start]
        send_crisis_command(settings_from(broker=broker.url), CrisisCommand(
            CommandAction.DECLARE, DeclaredCrisis("Storm Ciaran", ("storm",), ("storm",), None,
                                                   crisis_start)))
        events.append(SocialEvent(Side.BRAND, "robot-storm-sale", "robot", "twitter",
                                  "RoboMart", "Stuck inside because of the #Storm? 25% off "
                                  "everything, shop now!", end))
        # Paced over many scrapes, so that rate() sees the counters grow.
        speed = (events[-1].created_at - events[0].created_at) / REPLAY_SECONDS
        sender = threading.Thread(target=replay, kwargs={
            "events": events, "broker": broker.url, "topics": TOPICS, "speed": speed,
            "progress": False})
        sender.start()
        produce(broker.url, [(TOPICS.audience_messages, b"robot", b"{not json"),
                             event_record("audience", id="x", brand="nobody", author="a",
                                          text="hi", created_at=f"{RECENT_DAY}T10:00:00Z")])
        sender.join(REPLAY_SECONDS * 4)
        assert not sender.is_alive(), "replay did not finish"
        # The robot also queued a promotion for two hours into the storm: the scheduled-
        # post alarm's panel has data.
        produce(broker.url, [(TOPICS.brand_posts, b"robot", orjson.dumps({
            "kind": "scheduled", "id": "robot-queued-sale", "brand": "robot",
            "platform": "twitter", "author": "RoboMart",
            "text": "Flash sale: 30% off everything, shop now!",
            "created_at": format_rfc3339(end), "scheduled_at": format_rfc3339(end + 7200)}))])
        total = len(events) + 3

        def consumed() -> float:
            return sum(w.value("brandpulse_events_consumed_total",
                               topic=t) or 0 for w in workers
                       for t in (TOPICS.audience_messages, TOPICS.brand_posts))

        wait_until(lambda: consumed() >= total, 60, f"{total} events consumed")
        wait_until(lambda: query(url, 'brand:brandpulse_robot_score:max{brand="robot"}'),
                   30, "recording rules over the scraped data")
        time.sleep(5)  # a few more scrapes and rule evaluations

        results = evaluate(url, all_expressions())
        errors = [(r.expression.location, r.detail) for r in results if r.status == "error"]
        assert not errors, errors
        empty = [r.expression.location for r in results
                 if r.status == "empty" and r.expression.kind != "alert"
                 and not (r.expression.metrics & NOT_IN_SCENARIO)
                 and "kafka_consumergroup_lag" not in r.expression.query]
        assert not empty, f"no data for: {empty}"

        # Alerts: the robot brand fires the robot alert, the healthy brand fires nothing.
        alerts = {r.expression.location.split(" / ")[-1]: r.expression
                  for r in results if r.expression.kind == "alert"}
        # The psycho brand posted promotions during its audience's storm (the scenario's
        # crisis): it is tone-deaf too.
        for name, brands in (("BrandWentRobot", {"robot"}),
                             ("BrandToneDeafDuringCrisis", {"robot", "psycho"})):
            fired = {s["metric"].get("brand") for s in query(url, alerts[name].query)}
            assert fired == brands, (name, fired)
        for name, expression in alerts.items():
            fired = {s["metric"].get("brand") for s in query(url, expression.query)}
            assert "healthy" not in fired, f"{name} fires for the healthy brand"
        # The brand that answers hours late burns its SLA budget fast; the others do not.
        fast_burn = query(url, alerts["BrandReplySLABudgetBurnFast"].query)
        assert "slow" in {s["metric"].get("brand") for s in fast_burn}
        with_data = sum(r.status == "data" for r in results)
        assert with_data >= len(results) // 2, (with_data, len(results))
    finally:
        stop_process(prometheus)
        ingest.kill()
        ingest.wait(10)
        for worker in workers:
            worker.kill()
