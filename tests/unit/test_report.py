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
from streams.commands.report import build_report, quantile
from streams.config import parse_brands
from streams.events import Side, SocialEvent
from streams.sources.files import load_events

TWCS_SAMPLE = "twcs/twcs_5k.csv"  # in the evaluation data (the `shared_data` fixture)
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


def test_report_matches_an_independent_computation_on_real_twcs_data(shared_data: Path) -> None:
    sample = shared_data / TWCS_SAMPLE
    events, brands = load_events(str(sample), "twcs")
    report = build_report(events, brands)["brands"]
    expected = _independent_twcs(sample)
    assert len(brands) == 76
    assert sum(n for n, _ in expected.values()) > 1000
    mismatches = []
    for brand, (answered, median) in expected.items():
        got = report[brand]
        if got["answered"] != answered or got["first_response_seconds"]["p50"] != median:
            mismatches.append((brand, got["answered"], answered,
                               got["first_response_seconds"]["p50"], median))
    assert not mismatches, mismatches


# -- streaming (issue 9) -------------------------------------------------------------------

def test_report_consumes_events_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each event reaches the engine, and its observations the tallies, before the next
    event is read: neither the events nor the observations are collected in a list."""
    from streams.engine import Engine

    log: list[str] = []
    original = Engine.ingest

    def ingest(self: Engine, event: SocialEvent, wall: float = 0.0):  # type: ignore[no-untyped-def]
        log.append(f"ingest {event.id}")
        return original(self, event, wall)

    monkeypatch.setattr(Engine, "ingest", ingest)
    ingest_all = Engine.ingest_all

    def observing(self, events, wall):  # type: ignore[no-untyped-def]
        for observation in ingest_all(self, events, wall):
            log.append(type(observation).__name__)
            yield observation

    monkeypatch.setattr(Engine, "ingest_all", observing)
    events = [audience("m1", 0), post("r1", 4, "m1"), audience("m2", 5), post("b1", 9)]

    def lazily():  # type: ignore[no-untyped-def]
        for event in events:
            log.append(f"read {event.id}")
            yield event

    report = build_report(lazily(), BRANDS, wall=T0 + 3600)["brands"]
    assert report["acme"]["answered"] == 1
    steps = [entry for entry in log if entry.startswith(("read", "ingest"))]
    assert steps == [step for e in events for step in (f"read {e.id}", f"ingest {e.id}")]
    # Observations of an event are consumed before the next event is read.
    assert log.index("FirstResponse") < log.index("read m2")
    assert log.index("MessageCounted") < log.index("read r1")


def test_an_unpersisted_engine_keeps_no_change_set_nor_features() -> None:
    """The report's engine writes no state table: what a worker keeps until its next
    persist (the changed record keys, each event's analysis features) would otherwise grow
    with every event read, however few messages are open."""
    from streams.engine import Engine

    events = [e for i in range(40) for e in (audience(f"m{i}", i), post(f"r{i}", i + 1, f"m{i}"))]
    events += [audience("open", 50), post("b1", 51)]
    offline, live = Engine(BRANDS, persisted=False), Engine(BRANDS)
    for engine in (offline, live):
        list(engine.ingest_all(events, T0 + 3600))
    assert len(live.book("acme").dirty) == len(events)  # one key per record: a worker's
    assert not offline.book("acme").dirty
    for engine in (offline, live):  # "open" breaches and expires: its record changes
        assert any(type(o).__name__ == "SlaBreached" for o in engine.advance(T0 + 10**6))
    assert len(live.book("acme").dirty) == len(events)
    assert not offline.book("acme").dirty


def test_event_file_streams_jsonl_and_counts_bytes(tmp_path: Path) -> None:
    from streams.sources.files import open_events

    path = tmp_path / "big.jsonl"
    line = {"side": "audience", "brand": "acme", "platform": "twitter", "author": "bob",
            "text": "@acme " + "x" * 200, "created_at": "2026-01-05T10:00:00Z"}
    path.write_bytes(b"".join(orjson.dumps({**line, "id": f"m{i}"}) + b"\n"
                              for i in range(4000)))
    source = open_events(str(path))
    assert source.bytes_read() == 0
    stream = iter(source)
    first = next(stream)
    assert first.id == "m0"
    assert 0 < source.bytes_read() < source.size / 4  # read ahead by a buffer, not the file
    assert sum(1 for _ in stream) == 3999
    assert source.bytes_read() == source.size


def test_quantile_sketch_within_its_relative_error_on_random_data() -> None:
    import random

    from streams.commands.report import QuantileSketch

    rng = random.Random(3)
    for draw in (lambda: rng.lognormvariate(6, 2), lambda: rng.expovariate(1 / 900),
                 lambda: 0.0 if rng.random() < 0.2 else rng.uniform(1, 86400)):
        values = [draw() for _ in range(20_000)]
        sketch = QuantileSketch(relative_error=0.01, exact_limit=100)
        for value in values:
            sketch.add(value)
        ordered = sorted(values)
        assert len(sketch) == len(values)
        for q in (0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0):
            exact = quantile(ordered, q)
            got = sketch.quantile(q)
            assert exact is not None and got is not None
            assert abs(got - exact) <= 0.01 * exact + 1e-9, (q, got, exact)


def test_quantile_sketch_is_exact_for_small_samples_and_bounded_after() -> None:
    from streams.commands.report import QuantileSketch

    sketch = QuantileSketch(exact_limit=10)
    assert sketch.quantile(0.5) is None
    for value in (240.0, 720.0, 60.0):
        sketch.add(value)
    assert sketch.quantile(0.5) == 240.0
    assert sketch.quantile(0.9) == quantile([60.0, 240.0, 720.0], 0.9)
    for i in range(100_000):
        sketch.add(1.0 + i % 5000)
    # One counter per log bucket: 1..5000 s at 1 % is < 450 buckets, not 100k floats.
    assert len(sketch._buckets) < 450
    assert sketch.quantile(0.5) == pytest.approx(2500, rel=0.01)


def test_tone_deaf_examples_are_bounded_but_all_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.core.behaviour import ToneDeafPost
    from streams.core.sla_observations import MessageCounted
    from streams.engine import Engine

    def observations(engine, events, wall):  # type: ignore[no-untyped-def]
        yield MessageCounted("acme", "twitter", True)
        for i in range(120):
            yield ToneDeafPost("acme", "twitter", f"p{i}", T0, "promo_during_crisis",
                               "storm", "a sale during a storm", "SALE")

    monkeypatch.setattr(Engine, "ingest_all", observations)
    acme = build_report([], BRANDS)["brands"]["acme"]
    assert acme["tone_deaf_count"] == 120
    assert [p["post_id"] for p in acme["tone_deaf_posts"]] == [f"p{i}" for i in range(70, 120)]


def test_jsonl_first_pass_derives_the_same_brands(tmp_path: Path) -> None:
    from streams.sources.files import brands_from_events, jsonl_brands
    from streams.sources.jsonl import BadLine, read_jsonl

    base = {"platform": "twitter", "text": "hi", "created_at": "2026-01-05T10:00:00Z"}
    records = [
        {**base, "side": "brand", "brand": "acme", "author": "AcmeHelp"},  # no id: invalid
        {**base, "side": "brand", "id": "b1", "brand": "acme", "author": "AcmeHelp"},
        {**base, "side": "brand", "id": "b2", "brand": "acme", "author": "AcmeHelp"},
        {**base, "side": "brand", "id": "b3", "brand": "acme", "author": "AcmeNews",
         "platform": "instagram"},
        {**base, "side": "brand", "brand": "ghost", "author": "Ghost"},  # invalid only
        {**base, "side": "audience", "id": "m1", "brand": "globex", "author": "bob"},
        {**base, "side": "audience", "id": "m2", "brand": "acme", "author": "eve",
         "platform": "facebook"},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n[1]\n{bad\n\n")
    events = [e for e in read_jsonl(path) if not isinstance(e, BadLine)]
    derived = jsonl_brands(path)
    assert derived == brands_from_events(events)
    assert sorted(b.name for b in derived) == ["acme", "globex"]
    assert derived.get("acme").handles["instagram"] == {"acmenews"}  # type: ignore[union-attr]


def _twcs_snippet() -> str:
    from tests.unit.test_sources_twcs import SNIPPET

    return SNIPPET


@pytest.mark.parametrize("real", [False, True])
def test_twcs_two_pass_brands_and_events_equal_the_one_pass_load(
        real: bool, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    from streams.sources.files import open_events
    from streams.sources.twcs import load_twcs

    if real:
        path = request.getfixturevalue("shared_data") / TWCS_SAMPLE
    else:
        path = tmp_path / "snippet.csv"
        path.write_text(_twcs_snippet(), encoding="utf-8")
    with path.open(newline="\n", encoding="utf-8") as handle:
        events, brands, stats = load_twcs(handle)  # one pass over an open file, as before
    source = open_events(str(path), "twcs")
    assert source.brands == brands
    assert list(source) == events
    assert source.twcs_stats == stats
