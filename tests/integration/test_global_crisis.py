"""The global crisis scope across two workers: a crisis whose messages reach only the
brands of one worker is active on both, and the other worker flags its own brand's sale."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest
from kafka import KafkaProducer

from streams.plumbing.broker import EmbeddedBroker
from streams.wire import format_rfc3339, sign_record
from streams.worker.ownership import brand_partition

from .harness import (
    TOPICS,
    Worker,
    consume_all,
    event_record,
    produce,
    wait_for_split,
    wait_until,
)

pytestmark = pytest.mark.broker
STARTUP = 120.0
# One brand on each of the 6 partitions, so that both workers always own some brands.
BRANDS = ("acme", "globex", "stark", "hooli", "vandelay", "pied")
# Nine hours ago, on the hour: the storm hour (T0 + 8 h) ends within the last hour, inside
# the global scope's 25 h window of shared counts.
T0 = (time.time() // 3600 - 9) * 3600
HOUR = 3600.0


def brands_toml() -> str:
    blocks = [f'[[brand]]\nname = "{b}"\nhandles = {{ twitter = ["{b.title()}"] }}\n'
              for b in BRANDS]
    return "[defaults]\nsla_seconds = 3600\n\n" + "\n".join(blocks)


def audience(brand: str, n: int, at: float, text: str) -> tuple[str, bytes, bytes]:
    return event_record("audience", id=f"{brand}-{n}", brand=brand, author=f"user{n}",
                        text=f"@{brand.title()} {text}", created_at=format_rfc3339(at))


def crisis_view(worker: Worker) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/api/crisis",
                                timeout=2) as response:
        return json.loads(response.read())


def test_crisis_seen_by_one_worker_is_global_on_both(broker: EmbeddedBroker, tmp_path: Path,
                                                     app_id: str) -> None:
    assert sorted(brand_partition(b, 6) for b in BRANDS) == list(range(6))
    brands_file = tmp_path / "brands.toml"
    brands_file.write_text(brands_toml())
    first = Worker(broker.url, brands_file, tmp_path, app_id, "first")
    second = Worker(broker.url, brands_file, tmp_path, app_id, "second")
    workers = (first, second)
    try:
        wait_for_split(workers, 6, STARTUP)

        # Eight calm hours on every brand: 6 ordinary messages per brand and hour.
        records = []
        n = 0
        for hour in range(8):
            for brand in BRANDS:
                for k in range(6):
                    n += 1
                    records.append(audience(brand, n, T0 + hour * HOUR + k * 600,
                                            "where is my parcel? order placed last week"))
        produce(broker.url, records)

        def owner(brand: str) -> Worker | None:
            for w in workers:
                if w.value("brandpulse_unanswered_messages", brand=brand,
                           platform="twitter") is not None:
                    return w
            return None

        wait_until(lambda: all(owner(b) for b in BRANDS), 60, "every brand's owner")
        hit = [b for b in BRANDS if owner(b) is first]
        calm = [b for b in BRANDS if owner(b) is second]
        assert hit and calm, (hit, calm)

        # Hour 8: an earthquake. Its messages reach only the first worker's brands; the
        # second worker's brands keep their ordinary traffic.
        records = []
        for brand in hit:
            for k in range(60):
                n += 1
                records.append(audience(
                    brand, n, T0 + 8 * HOUR + k * 25,
                    "earthquake downtown, death toll rising, thoughts and prayers"))
        for brand in calm:
            for k in range(6):
                n += 1
                records.append(audience(brand, n, T0 + 8 * HOUR + k * 250,
                                        "where is my parcel? order placed last week"))
        produce(broker.url, records)
        # The detector's last hour: the 12 five-minute buckets ending with the latest one.
        sent = [T0 + h * HOUR + k * 600 for h in range(8) for _ in BRANDS for k in range(6)]
        sent += [T0 + 8 * HOUR + k * 25 for _ in hit for k in range(60)]
        sent += [T0 + 8 * HOUR + k * 250 for _ in calm for k in range(6)]
        latest_bucket = max(sent) // 300
        total_last_hour = sum(1 for at in sent if latest_bucket - 12 < at // 300)
        for worker in workers:
            # Shares travel every 5 s: wait until this worker has read the other's latest.
            def combined(w: Worker = worker) -> bool:
                view = crisis_view(w)["global"]
                return view["sources"] == 2 and view["volume_last_hour"] == total_last_hour

            wait_until(combined, 60, "both workers' counts in the global scope",
                       lambda w=worker: w.log()[-2000:] + json.dumps(crisis_view(w)))
            wait_until(lambda w=worker: w.value("brandpulse_crisis_active", scope="global") == 1,
                       30, "the global crisis on both workers",
                       lambda w=worker: json.dumps(crisis_view(w)))
            assert worker.value("brandpulse_crisis_share_sources") == 2
        # The second worker's own brands saw no crisis message: the verdict is shared.
        for brand in calm:
            assert second.value("brandpulse_crisis_active", scope=brand) == 0

        produce(broker.url, [event_record(
            "brand", id="sale-1", brand=calm[0], author=calm[0].title(),
            text="Flash sale! 30% off everything today only, shop now",
            created_at=format_rfc3339(T0 + 8 * HOUR + 1800))])
        labels = {"brand": calm[0], "reason": "promotional_in_crisis"}
        wait_until(lambda: second.value("brandpulse_tone_deaf_posts_total", **labels) == 1,
                   60, "the tone-deaf flag on the second worker", second.log)
        alerts = [orjson.loads(v) for v in consume_all(broker.url, TOPICS.alerts, 1)]
        assert [(a["post_id"], a["brand"], a["reason"]) for a in alerts] == [
            ("sale-1", calm[0], "promotional_in_crisis")]
        assert "across brands" in alerts[0]["crisis"]
    finally:
        for worker in workers:
            worker.kill()


def test_forged_control_and_share_records_are_refused_and_a_signed_declare_works(
        broker: EmbeddedBroker, tmp_path: Path, app_id: str) -> None:
    """Issue 20's forgeries on the real broker: a declare written straight to the control
    topic (unsigned), one signed with another key, and an unsigned share change nothing and
    are counted; `brandpulse crisis declare` signs, and `crisis list` skips the forgeries."""
    brands_file = tmp_path / "brands.toml"
    brands_file.write_text(brands_toml())
    worker = Worker(broker.url, brands_file, tmp_path, app_id, "signed")
    try:
        wait_until(lambda: worker.value("brandpulse_assigned_partitions") == 6, STARTUP,
                   "assignment", worker.log)
        start = format_rfc3339(time.time() - 60)
        forged = orjson.dumps({"action": "declare", "name": "Forged", "start": start})
        wrong = orjson.dumps({"action": "declare", "name": "Wrong key", "start": start})
        share = orjson.dumps({"source": "evil", "bucket_seconds": 300,
                              "first_seen": time.time() - 60, "latest": time.time() - 60,
                              "buckets": [[int((time.time() - 60) // 300), 1000, 1000, -1000.0]]})
        producer = KafkaProducer(bootstrap_servers=broker.url.split("://", 1)[1], acks=1)
        producer.send(TOPICS.control, key=b"Forged", value=forged)
        producer.send(TOPICS.control, key=b"Wrong", value=wrong, headers=sign_record(
            b"not-the-deployment-key-0123456789abcdef", TOPICS.control, wrong, time.time()))
        producer.send(TOPICS.crisis_shares, key=b"evil", value=share)
        producer.flush(30)
        producer.close(10)

        def rejected(reason: str) -> float | None:
            return worker.value("brandpulse_events_rejected_total", reason=reason)

        wait_until(lambda: rejected("unsigned") == 2 and rejected("bad_signature") == 1, 60,
                   "the forgeries counted", worker.log)
        letters = [orjson.loads(v) for v in consume_all(broker.url, TOPICS.dead_letter, 3)]
        assert sorted((d["source_topic"], d["reason"]) for d in letters) == [
            (TOPICS.control, "bad_signature"), (TOPICS.control, "unsigned"),
            (TOPICS.crisis_shares, "unsigned")]
        # the view exists once the worker has rebuilt its state (its first gauge tick)
        view = wait_until(lambda: crisis_view(worker) or None, 60, "the worker's crisis view")
        assert view["declared"] == [] and view["global"]["sources"] <= 1

        cli = [sys.executable, "-m", "streams.cli", "crisis"]
        subprocess.run([*cli, "declare", "Storm", "--keywords", "storm", "--broker",
                        broker.url], check=True, capture_output=True, timeout=60)
        wait_until(lambda: [c["name"] for c in crisis_view(worker)["declared"]] == ["Storm"],
                   60, "the signed declare applied", worker.log)
        listed = subprocess.run([*cli, "list", "--broker", broker.url], check=True,
                                capture_output=True, text=True, timeout=60)
        assert listed.stdout.startswith("Storm: since ") and "Forged" not in listed.stdout
        assert "skipped 2 control record(s)" in listed.stderr
        assert "bad_signature 1, unsigned 1" in listed.stderr
        assert rejected("unsigned") == 2 and rejected("bad_signature") == 1
    finally:
        worker.kill()
