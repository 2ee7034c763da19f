"""The fault suite: SIGKILLs under load, hostile records on every topic the worker reads,
forged state. Counting must stay exact and behaviour must match an uninterrupted run.

Data is stamped in the recent past (bounded by the wall clock) and laid out so that no SLA
deadline can fall in the second between the last scrape of a worker and its SIGKILL
(messages at minutes 0-10 of each half hour, deadlines at 61-71, chunks end at 25): every
breach is counted while a batch is processed, so what each lifetime counted is observable.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from streams.commands.report import build_report
from streams.config import load_brands
from streams.engine import Engine
from streams.events import Side, SocialEvent
from streams.wire import encode_event, format_rfc3339, parse_rfc3339, sign_record
from tests.integration.harness import (
    INTERNAL_KEY,
    TOPICS,
    Worker,
    consume_all,
    produce,
    wait_until,
)

BRANDS = ("acme", "globex", "initech", "umbrella")
HANDLES = {"acme": "AcmeSupport", "globex": "Globex", "initech": "Initech",
           "umbrella": "Umbrella"}
STARTUP = 60
CHUNKS = 4
TOPIC_WORDS = ["delivery", "refund", "parcel", "invoice", "password", "battery", "screen",
               "booking", "luggage", "voucher"]
CANNED = "Thanks for reaching out, please send us a DM with your order number"


def scenario(rng: random.Random, base: float) -> list[list[SocialEvent]]:
    """CHUNKS half-hours of traffic for the four brands; umbrella answers with one line."""
    chunks: list[list[SocialEvent]] = []
    late: list[SocialEvent] = []
    for k in range(CHUNKS):
        start = base + k * 1800
        events: list[SocialEvent] = list(late)
        late = []
        for brand in BRANDS:
            for i in range(rng.randint(25, 40)):
                at = start + rng.uniform(0, 600)
                topic = rng.choice(TOPIC_WORDS)
                mid = f"{brand}-{k}-{i}"
                events.append(SocialEvent(Side.AUDIENCE, mid, brand, "twitter", f"user{i}",
                                          f"@{HANDLES[brand]} my {topic} is a problem", at))
                fate = rng.random()
                text = CANNED if brand == "umbrella" else \
                    f"Sorry about the {topic}, {rng.choice(['Ann', 'Bo', 'Cy'])} here, " \
                    f"let me check ticket {rng.randint(1000, 9999)} {rng.choice(TOPIC_WORDS)}"
                if fate < 0.55:  # in time, within the chunk
                    events.append(SocialEvent(Side.BRAND, f"r-{mid}", brand, "twitter",
                                              brand, text, at + rng.uniform(60, 480),
                                              in_reply_to=mid))
                elif fate < 0.75:  # 1.5-1.7 h later: a breach, answered in a later chunk
                    reply_at = at + 5400 + rng.uniform(0, 300)
                    if reply_at < base + CHUNKS * 1800 - 300:
                        late.append(SocialEvent(Side.BRAND, f"r-{mid}", brand, "twitter",
                                                brand, text, reply_at, in_reply_to=mid))
            for j in range(3):
                events.append(SocialEvent(Side.BRAND, f"b-{brand}-{k}-{j}", brand, "twitter",
                                          brand, f"Our new {rng.choice(TOPIC_WORDS)} offer",
                                          start + 700 + j * 60))
            # closes the chunk: each brand's clock ends at minute 25
            events.append(SocialEvent(Side.BRAND, f"end-{brand}-{k}", brand, "twitter", brand,
                                      "Have a good afternoon", start + 1500))
        next_start = start + 1800
        carry = [e for e in late if e.created_at < next_start + 1500]
        late = [e for e in late if e not in carry]
        events.sort(key=lambda e: e.created_at)
        chunks.append(events)
        late = carry + late
    return chunks


def records(events: list[SocialEvent]) -> list[tuple[str, bytes, bytes]]:
    return [(TOPICS.audience_messages if e.side is Side.AUDIENCE else TOPICS.brand_posts,
             e.brand.encode(), encode_event(e)) for e in events]


COUNTERS = ("brandpulse_audience_messages_total", "brandpulse_brand_posts_total",
            "brandpulse_first_response_seconds_count", "brandpulse_sla_breaches_total",
            "brandpulse_sla_met_total")


def counters(worker: Worker) -> Counter[tuple[str, frozenset[tuple[str, str]]]]:
    return Counter({key: value for key, value in worker.metrics().items()
                    if key[0] in COUNTERS})


def counted(worker: Worker) -> float:
    """Messages and posts counted, ever: the counters continue across lifetimes (each
    brand's totals are persisted state, docs/metrics.md "Exactness")."""
    now = counters(worker)
    return sum(value for key, value in now.items()
               if key[0] in ("brandpulse_audience_messages_total",
                             "brandpulse_brand_posts_total"))


def drained(worker: Worker, target: int) -> bool:
    """Every event so far is counted, and nothing more for 1.5 s.

    The records consumed are no measure: a lifetime re-reads what its killed predecessor
    processed after its last commit, so "consumed ≥ chunk size" can hold half-way through a
    chunk, and a stall then would scrape early and the SIGKILL lose what came after. A count
    above the target is a double count: fail at once, not at the timeout."""
    first = counted(worker)
    assert first <= target, f"double count: {first} > {target}"
    if first < target:
        return False
    time.sleep(1.5)
    return counted(worker) == first


def total(samples: Counter[Any], name: str, brand: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and ("brand", brand) in ls
               and all((k, v2) in ls for k, v2 in labels.items()))


def test_three_sigkills_under_load_lose_and_double_count_nothing(
        broker: Any, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    rng = random.Random(2026)
    base = math.floor((time.time() - 3 * 3600) / 3600) * 3600
    chunks = scenario(rng, base)
    all_events = [e for chunk in chunks for e in chunk]
    previous: Counter[Any] = Counter()  # the last scrape of the previous lifetime
    last: Worker | None = None
    for k, chunk in enumerate(chunks):
        worker = Worker(broker.url, brands_file, tmp_path, app_id, f"life{k}")
        try:
            wait_until(lambda w=worker: w.value("brandpulse_assigned_partitions") == 6,
                       STARTUP, f"assignment of life {k}", worker.log)
            batch = records(chunk)
            if k == 2:  # a forged redelivery of the first chunk, mixed in
                batch = records(chunks[0][:40]) + batch
            produce(broker.url, batch)
            target = sum(len(c) for c in chunks[:k + 1])  # every event counts once
            wait_until(lambda w=worker, n=target: drained(w, n), 90,
                       f"life {k} to count its chunk", worker.log)
            now = counters(worker)
            went_down = {key: (previous[key], now[key]) for key in previous
                         if now[key] < previous[key]}
            assert not went_down, f"counters went down across a restart: {went_down}"
            previous = now
        finally:
            if k < CHUNKS - 1:
                worker.kill()  # SIGKILL within the commit interval: redelivery follows
            else:
                last = worker
    assert last is not None
    try:
        summed = counters(last)
        brands = load_brands(str(brands_file))
        report = build_report(all_events, brands)["brands"]
        for brand in BRANDS:
            expected = report[brand]
            msgs = total(summed, "brandpulse_audience_messages_total", brand)
            assert msgs == expected["messages"], brand
            assert total(summed, "brandpulse_audience_messages_total", brand,
                         requires_reply="true") == expected["requires_reply"], brand
            assert total(summed, "brandpulse_first_response_seconds_count", brand) == \
                expected["answered"], brand
            assert total(summed, "brandpulse_sla_breaches_total", brand) == \
                expected["sla_breaches"], brand
            posts = expected["posts"]
            assert total(summed, "brandpulse_brand_posts_total", brand) == \
                posts["broadcast"] + posts["reply"], brand
            assert last.value("brandpulse_unanswered_messages", brand=brand,
                              platform="twitter") == expected["unanswered"], brand
        # Behaviour after three crashes equals an uninterrupted run of the same events.
        engine = Engine(brands)
        for event in sorted(all_events, key=lambda e: e.created_at):
            engine.ingest(event, event.created_at)
            engine.advance(event.created_at)
        for brand in BRANDS:
            view = orjson.loads(_get(last, f"/api/brands/{brand}"))
            now = parse_rfc3339(view["event_time"])  # RFC 3339, milliseconds as the events
            engine.book(brand).advance(now)
            snap = engine.snapshot(brand, now)
            b = snap.behaviour
            _close(view["templated_reply_ratio"], b.templated_reply_ratio, brand)
            _close(view["topic_alignment"], b.topic_alignment, brand)
            _close(view["audience_sentiment"]["normal"], b.sentiment["normal"], brand)
            _close(view["robot_score"], snap.conversation.robot_score, brand)
            assert view["crisis_active"] == b.crisis_active
        assert orjson.loads(_get(last, "/api/brands/umbrella"))["templated_reply_ratio"] == 1.0
    finally:
        last.kill()


TOLERANCE = 1e-6  # behaviour numbers after crashes vs an uninterrupted run (docs/metrics.md)


def _close(got: float | None, expected: float, what: str) -> None:
    if got is None:
        assert math.isnan(expected), what
    else:
        assert abs(got - expected) <= TOLERANCE, (what, got, expected)


def _get(worker: Worker, path: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=5) as r:
        return bytes(r.read())


def now_rfc3339(offset: float = 0.0) -> str:
    return format_rfc3339(time.time() + offset)


def bad_records() -> list[tuple[str, bytes | None, bytes, str]]:
    """(topic, key, value, expected reason) for every kind of hostile input record."""
    a, p = TOPICS.audience_messages, TOPICS.brand_posts

    def rec(**fields: Any) -> bytes:
        base = {"id": "x1", "brand": "acme", "platform": "twitter", "author": "eve",
                "text": "@AcmeSupport hi", "created_at": now_rfc3339(-60)}
        base.update(fields)
        return orjson.dumps({k: v for k, v in base.items() if v is not ...})

    nested = b"[" * 200_000 + b"]" * 200_000
    return [
        (a, b"acme", b"{not json", "malformed_json"),
        (a, b"acme", b"", "malformed_json"),
        (a, b"acme", b"\xff\xfe\x00garbage", "malformed_json"),
        (a, b"acme", b"[]", "schema"),
        (a, b"acme", b"42", "schema"),
        (a, b"acme", b"null", "schema"),
        (a, b"acme", rec(id=...), "schema"),
        (a, b"acme", rec(id=""), "schema"),
        (a, b"acme", rec(id={"$ne": 1}), "schema"),
        (a, b"acme", rec(id="i" * 300), "schema"),
        (a, b"acme", rec(author=...), "schema"),
        (a, b"acme", rec(text=["list"]), "schema"),
        (a, b"acme", rec(created_at=...), "schema"),
        (a, b"acme", rec(created_at="yesterday"), "schema"),
        (a, b"acme", rec(created_at=1_700_000_000), "schema"),
        (a, b"acme", rec(created_at="2026-11-02T10:00:00"), "schema"),  # no offset
        (a, b"acme", rec(kind="carrier_pigeon"), "schema"),
        (a, b"acme", rec(is_share="yes"), "schema"),
        (a, b"acme", rec(in_reply_to=["x"]), "schema"),
        (p, b"acme", rec(automated=1), "schema"),
        (a, b"nobody", rec(brand="nobody"), "unknown_brand"),
        (a, b"acme", rec(platform="myspace"), "unknown_platform"),
        (a, b"acme", b'{"id":"big","text":"' + b"x" * 70_000 + b'"}', "oversized"),
        (a, b"acme", nested[:60_000], "malformed_json"),
        (a, b"acme", rec(created_at="9999-12-31T23:59:59-23:59"), "future_timestamp"),
        (a, b"acme", rec(created_at="2100-01-01T00:00:00Z"), "future_timestamp"),
        (p, b"acme", rec(created_at=now_rfc3339(3600)), "future_timestamp"),
        (a, b"globex", rec(), "key_mismatch"),
        (a, None, rec(), "key_mismatch"),
        # the topics every worker reads whole: operator crises and the global crisis shares
        (TOPICS.control, b"x", orjson.dumps({
            "action": "declare", "name": "Backwards", "start": now_rfc3339(-60),
            "end": now_rfc3339(-3600)}), "schema"),
        (TOPICS.control, b"x", b"\x80\x04K\x01.", "malformed_json"),
        (TOPICS.crisis_shares, b"evil", orjson.dumps({
            "source": "evil", "bucket_seconds": 300, "first_seen": 1e12, "latest": 1e15,
            "buckets": [[3333333333333, 100000, 100000, -100000.0]]}), "future_timestamp"),
        # ... whose records must be signed with the internal key (the others above are)
        (TOPICS.control, b"x", orjson.dumps({
            "action": "declare", "name": "Forged", "start": now_rfc3339(-60)}), "unsigned"),
        (TOPICS.crisis_shares, b"evil", orjson.dumps({
            "source": "evil", "bucket_seconds": 300, "first_seen": time.time() - 60,
            "latest": time.time() - 60, "buckets": []}), "bad_signature"),
    ]


def internal_headers(topic: str, value: bytes, reason: str) -> list[tuple[str, bytes]]:
    """How a hostile record on the control or shares topic is sent: signed with the
    harness's key, so that its value is what gets checked, unless it tests the signature."""
    if topic not in (TOPICS.control, TOPICS.crisis_shares) or reason == "unsigned":
        return []
    key = b"another-deployment's-key-0123456789" if reason == "bad_signature" else None
    return sign_record(key or INTERNAL_KEY.encode(), topic, value, time.time())


def test_hostile_records_are_dead_lettered_and_change_no_brand(
        broker: Any, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    worker = Worker(broker.url, brands_file, tmp_path, app_id, "hostile")
    try:
        wait_until(lambda: worker.value("brandpulse_assigned_partitions") == 6, STARTUP,
                   "assignment", worker.log)
        good = [SocialEvent(Side.AUDIENCE, f"m{i}", brand, "twitter", "bob",
                            f"@{HANDLES[brand]} help", time.time() - 600 + i)
                for i, brand in enumerate(BRANDS)]
        produce(broker.url, records(good))
        wait_until(lambda: drained(worker, len(good)), 60, "good records",
                   worker.log)
        before = {b: worker.value("brandpulse_oldest_unanswered_age_seconds", brand=b,
                                  platform="twitter") for b in BRANDS}
        bad = bad_records()
        producer = KafkaProducer(bootstrap_servers=broker.url.split("://", 1)[1],
                                 max_request_size=2_000_000)
        for topic, key, value, reason in bad:
            producer.send(topic, key=key, value=value,
                          headers=internal_headers(topic, value, reason))
        producer.flush(30)
        producer.close(10)
        letters = [orjson.loads(v) for v in consume_all(broker.url, TOPICS.dead_letter,
                                                         len(bad), timeout=60)]
        assert sorted(d["reason"] for d in letters) == sorted(r for *_, r in bad)
        assert worker.process.poll() is None  # alive
        for reason, n in Counter(r for *_, r in bad).items():
            assert worker.value("brandpulse_events_rejected_total", reason=reason) == n
        time.sleep(2)
        for brand in BRANDS:  # nobody's clock moved: ages grew by wall time only
            unanswered = worker.value("brandpulse_unanswered_messages", brand=brand,
                                      platform="twitter")
            assert unanswered == 1, brand
            age = worker.value("brandpulse_oldest_unanswered_age_seconds", brand=brand,
                               platform="twitter")
            assert age is not None and before[brand] is not None
            assert 0 <= age - before[brand] < 120, brand
        assert worker.value("brandpulse_sla_breaches_total", policy="default", brand="acme",
                            platform="twitter") == 0
    finally:
        worker.kill()


def test_forged_state_records_are_skipped_never_executed(
        broker: Any, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    marker = tmp_path / "pwned"
    first = Worker(broker.url, brands_file, tmp_path, app_id, "honest")
    try:
        wait_until(lambda: first.value("brandpulse_assigned_partitions") == 6, STARTUP,
                   "assignment", first.log)
        good = [SocialEvent(Side.AUDIENCE, "m1", "acme", "twitter", "bob",
                            "@AcmeSupport help", time.time() - 600)]
        produce(broker.url, records(good))
        wait_until(lambda: first.value("brandpulse_unanswered_messages", brand="acme",
                                       platform="twitter") == 1, 60, "state", first.log)
    finally:
        first.kill()
    changelog = f"{app_id}-sla-state-changelog"
    hour = int((time.time() - 600) // 3600)
    pickle_payload = (b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    forged = [
        (f"acme\x1f{hour}\x1fa\x1fevil".encode(), pickle_payload),
        (f"acme\x1f{hour}\x1fa\x1fevil2".encode(), b'{"a": [], "p": [], "o": []}'),
        (f"acme\x1f{hour}\x1fa\x1fevil3".encode(),
         orjson.dumps([2, "twitter", 1e15, True, None, False, False, None])),
        (b"acme\x1f0\x1fc\x1fclock", orjson.dumps([2, 1e15, 1e15])),
        (b"\xff\xfe", b"\x80\x04K\x01."),
    ]
    producer = KafkaProducer(bootstrap_servers=broker.url.split("://", 1)[1])
    partition = sorted(producer.partitions_for(changelog) or {0})
    for key, value in forged:
        for p in partition:
            producer.send(changelog, key=key, value=value, partition=p)
            producer.flush(30)  # one record per batch: tansu's end offsets (docs/tansu.md)
    producer.close(10)
    second = Worker(broker.url, brands_file, tmp_path, app_id, "after-forgery")
    try:
        wait_until(lambda: second.value("brandpulse_unanswered_messages", brand="acme",
                                        platform="twitter") == 1, 90,
                   "the honest state restored", second.log)
        rejected = sum(second.value("brandpulse_state_records_rejected_total", reason=r) or 0
                       for r in ("schema", "oversized"))
        assert rejected >= 3
        assert not marker.exists()
        age = second.value("brandpulse_oldest_unanswered_age_seconds", brand="acme",
                           platform="twitter")
        # The forged clock replaced the honest one and was refused: the brand's time resumes
        # from its newest record (no jump into the future, no breach).
        assert age is not None and 0 < age < 1200
        assert second.value("brandpulse_sla_breaches_total", policy="default", brand="acme",
                            platform="twitter") == 0
    finally:
        second.kill()
