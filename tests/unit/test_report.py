"""The offline report: hand-computed cases, and the real TWCS sample when it is present."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from streams.cli import main
from streams.config import parse_brands
from streams.events import Side, SocialEvent
from streams.report import build_report, quantile
from streams.sources.files import load_events

TWCS_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "twcs" / "twcs_5k.csv"
BRANDS = parse_brands({"brand": [
    {"name": "acme", "handles": {"twitter": ["AcmeSupport"]}, "sla_seconds": 600},
    {"name": "globex", "handles": {"twitter": ["Globex"]}},
]})
T0 = 1_800_000_000.0


def audience(id: str, minute: float, brand: str = "acme", **kw: object) -> SocialEvent:
    text = "@AcmeSupport help" if brand == "acme" else "@Globex help"
    return SocialEvent(Side.AUDIENCE, id, brand, "twitter", "bob", text, T0 + 60 * minute,
                       **kw)


def post(id: str, minute: float, to: str | None = None, brand: str = "acme") -> SocialEvent:
    return SocialEvent(Side.BRAND, id, brand, "twitter", "AcmeSupport", "hi", T0 + 60 * minute,
                       in_reply_to=to)


def test_quantile_interpolates_linearly() -> None:
    assert quantile([], 0.5) is None
    assert quantile([10.0], 0.9) == 10.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
                    0.9) == 90.0


def test_report_on_hand_computed_events() -> None:
    events = [
        audience("m1", 0), post("r1", 4, "m1"),          # answered in 4 min
        post("r2", 14, "m2"), audience("m2", 2),         # reply first: 12 min, late (SLA 10)
        audience("m3", 5), audience("m3", 5),            # duplicate, never answered
        audience("s1", 6, is_share=True),                # needs no reply
        post("b1", 20), post("b2", 21),                  # broadcasts
        audience("g1", 0, brand="globex"),
    ]
    report = build_report(events, BRANDS, wall=T0 + 3600)["brands"]
    acme = report["acme"]
    assert acme["messages"] == 4
    assert acme["requires_reply"] == 3
    assert acme["answered"] == 2
    assert acme["unanswered"] == 1
    assert acme["sla_breaches"] == 2  # m2 answered late; m3 due at 15 min, breached by 21
    assert acme["first_response_seconds"] == {"p50": 480.0, "p90": 672.0}
    assert acme["posts"] == {"broadcast": 2, "reply": 2}
    assert acme["reply_rate"] == pytest.approx(2 / 3)
    assert acme["templated_reply_ratio"] == 0.0
    # 4 posts, 3 messages, 2 replies: too little evidence (< 5 each) for a robot score.
    assert acme["robot_score"] is None
    assert report["globex"]["answered"] == 0
    assert report["globex"]["first_response_seconds"] == {"p50": None, "p90": None}


def test_report_command_reads_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"side": "audience", "id": "m1", "brand": "acme", "platform": "twitter",
         "author": "bob", "text": "@acme hi", "created_at": "2026-01-05T10:00:00Z"},
        {"side": "brand", "id": "r1", "brand": "acme", "platform": "twitter",
         "author": "acme", "text": "hello", "created_at": "2026-01-05T10:03:00Z",
         "in_reply_to": "m1"},
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n{broken\n")
    assert main(["report", str(path), "--json"]) == 0
    out = capsys.readouterr()
    report = orjson.loads(out.out)
    assert report["brands"]["acme"]["answered"] == 1
    assert report["brands"]["acme"]["first_response_seconds"]["p50"] == 180.0
    assert "1 bad lines rejected" in out.err


def _independent_twcs(path: Path) -> dict[str, tuple[int, float]]:
    """Answered customer tweets and median first response per brand, straight from the CSV.

    A customer tweet is answered by brand B when a tweet of B replies to it (within the 7-day
    expiry); its first response is the earliest such reply.
    """
    text = path.read_bytes().decode("utf-8").replace("\r\n", "\n").replace("\r", " ")
    rows = list(csv.DictReader(io.StringIO(text)))

    def when(value: str) -> float:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").timestamp()

    def ident(value: str) -> str:
        return value.split(".")[0]

    customer = {ident(r["tweet_id"]): when(r["created_at"]) for r in rows
                if r["inbound"] == "True"}
    first: dict[tuple[str, str], float] = {}
    for r in rows:
        parent = ident(r["in_response_to_tweet_id"] or "")
        if r["inbound"] == "False" and parent in customer:
            key = (r["author_id"], parent)
            first[key] = min(first.get(key, float("inf")), when(r["created_at"]))
    delays: dict[str, list[float]] = defaultdict(list)
    for (brand, parent), replied in first.items():
        delay = replied - customer[parent]
        if delay < 7 * 86400:
            delays[brand].append(max(0.0, delay))
    return {brand: (len(d), statistics.median(d)) for brand, d in delays.items()}


@pytest.mark.skipif(not TWCS_SAMPLE.exists(), reason="evaluation data not present")
def test_report_matches_an_independent_computation_on_real_twcs_data() -> None:
    events, brands = load_events(str(TWCS_SAMPLE), "twcs")
    report = build_report(events, brands)["brands"]
    expected = _independent_twcs(TWCS_SAMPLE)
    assert len(brands) == 76
    assert sum(n for n, _ in expected.values()) > 1000
    mismatches = []
    for brand, (answered, median) in expected.items():
        got = report[brand]
        if got["answered"] != answered or got["first_response_seconds"]["p50"] != median:
            mismatches.append((brand, got["answered"], answered,
                               got["first_response_seconds"]["p50"], median))
    assert not mismatches, mismatches
