"""How fast is the pre-publish check, and what does it say on the evidence?

1. The core check as POST /api/check runs it (frozen brand state, no engine): time per draft
   for a calm brand, 1 and 20 declared crises.
2. POST /api/check over HTTP on 127.0.0.1 (one keep-alive connection, then 8 concurrent
   clients): p50/p99 latency in milliseconds, bearer token and JSON included.
3. Evidence: the five known tone-deaf cases as drafts against a replayed declared crisis
   (each must be hold or block), and every TWCS brand post checked against the state just
   before it went out, with no crisis (verdict counts, reasons of the exceptions).

    .venv/bin/python bench/check.py [--requests N] [--json]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

from streams.commands.check_client import engine_answer  # noqa: E402
from streams.core.crisis import DeclaredCrisis  # noqa: E402
from streams.engine import Engine  # noqa: E402
from streams.events import Side  # noqa: E402
from streams.plumbing.web import WebServer  # noqa: E402
from streams.sources.files import load_events  # noqa: E402
from streams.wire import check_answer  # noqa: E402
from tests.unit.test_behaviour import BRANDS, HOUR, KNOWN_CASES, T0, message, post  # noqa: E402

TWCS = ROOT.parent / "shared" / "data" / "twcs" / "twcs_5k.csv"
TOKEN = "bench-token"
DRAFTS = ["Flash sale: 30% off everything, shop now! #Sandy",
          "Our stores open at 9 tomorrow",
          "Stay safe everyone, our thoughts are with those affected by the storm"]


def state_engine(crises: int) -> Engine:
    """A brand with a day of audience traffic and replies, and `crises` declared crises."""
    engine = Engine(BRANDS)
    events = []
    for i in range(2000):
        at = T0 + i * 40
        events.append(message("retail", f"m{i}", f"@retail where is my order {i % 50}? "
                              "the delivery app keeps crashing", at))
        if i % 3:
            events.append(post("retail", f"r{i}", "Sorry! DM us your order number", at + 30,
                               f"m{i}"))
    for _ in engine.ingest_all(events):
        pass
    for k in range(crises):
        engine.behaviour.declare(DeclaredCrisis(f"Crisis {k}", (f"word{k}", "storm"),
                                                (f"Tag{k}", "Sandy"), None, T0))
    return engine


def frozen(engine: Engine) -> tuple[Any, dict[str, Any], float]:
    now = engine.brand_now("retail", engine.stream_time)
    snapshot = engine.snapshot("retail", now)
    return (engine.crisis_context(now), {"retail": engine.brand_state(snapshot, 3600.0)}, now)


def core_timing(repeat: int = 2000) -> dict[str, float]:
    out = {}
    for crises in (0, 1, 20):
        context, states, now = frozen(state_engine(crises))
        bodies = [{"brand": "retail", "text": d} for d in DRAFTS]
        started = time.perf_counter()
        for i in range(repeat):
            check_answer(bodies[i % len(bodies)], BRANDS, context, states, now)
        out[f"{crises}_crises_us"] = (time.perf_counter() - started) / repeat * 1e6
    return out


def http_timing(requests: int) -> dict[str, float]:
    context, states, now = frozen(state_engine(1))
    server = WebServer(CollectorRegistry(), port=0, check_token=TOKEN,
                       check=lambda body: check_answer(body, BRANDS, context, states, now))
    server.start()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    bodies = [orjson.dumps({"brand": "retail", "text": d}) for d in DRAFTS]

    def client(n: int, latencies: list[float]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for i in range(n):
            started = time.perf_counter()
            conn.request("POST", "/api/check", bodies[i % len(bodies)], headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            latencies.append(time.perf_counter() - started)
        conn.close()

    try:
        one: list[float] = []
        client(requests, one)
        many: list[float] = []
        threads = [threading.Thread(target=client, args=(requests // 8, many))
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        server.stop()

    def pct(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1e3

    return {"sequential_p50_ms": statistics.median(one) * 1e3,
            "sequential_p99_ms": pct(one, 0.99),
            "concurrent8_p50_ms": statistics.median(many) * 1e3,
            "concurrent8_p99_ms": pct(many, 0.99)}


def known_cases() -> list[dict[str, str]]:
    out = []
    for brand, name, keywords, hashtags, text, _ in KNOWN_CASES:
        engine = Engine(BRANDS)
        events = [message(brand, f"q{i}", "@brand where is my order?", T0 - 6 * HOUR + i * 600)
                  for i in range(20)]
        for _ in engine.ingest_all(events):
            pass
        engine.behaviour.declare(DeclaredCrisis(name, keywords, hashtags, None, T0))
        for _ in engine.ingest_all([message(brand, f"c{i}", f"so worried about {keywords[0]}",
                                            T0 + i * 60) for i in range(30)]):
            pass
        status, body = engine_answer(engine, {"brand": brand, "text": text}, T0 + HOUR)
        assert status == 200
        out.append({"brand": brand, "crisis": name, "verdict": body["verdict"],
                    "reason": body["reasons"][0]["reason"], "summary": body["summary"]})
    return out


def twcs() -> dict[str, Any]:
    if not TWCS.exists():
        return {"skipped": f"{TWCS} not present"}
    events, brands = load_events(str(TWCS), "twcs")
    engine = Engine(brands)
    verdicts: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    seconds = 0.0
    for event in events:
        if event.side is Side.BRAND:
            body = {"brand": event.brand, "text": event.text, "platform": event.platform}
            if event.in_reply_to is not None:
                body["in_reply_to"] = event.in_reply_to
            started = time.perf_counter()
            status, result = engine_answer(engine, body, event.created_at)
            seconds += time.perf_counter() - started
            assert status == 200
            verdicts[result["verdict"]] += 1
            reasons.update(r["reason"] for r in result["reasons"] if r["verdict"] != "ok")
        for _ in engine.ingest_all([event]):
            pass
    total = sum(verdicts.values())
    return {"brand_posts": total, "verdicts": dict(verdicts),
            "exception_reasons": dict(reasons),
            "ms_per_check_with_snapshot": seconds / total * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=800)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {"core": core_timing(), "http": http_timing(args.requests),
               "known_cases": known_cases(), "twcs": twcs()}
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("core check, µs per draft:", {k: round(v, 1) for k, v in results["core"].items()})
    print("POST /api/check:", {k: round(v, 3) for k, v in results["http"].items()})
    for case in results["known_cases"]:
        print(f"  {case['brand']:9} {case['crisis']:22} {case['verdict']:5} {case['reason']}")
    print("TWCS brand posts, no crisis:", results["twcs"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
