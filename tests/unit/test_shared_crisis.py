"""The global crisis scope shared between workers (SharedCrisisScope)."""

from __future__ import annotations

import dataclasses
import random

import orjson
import pytest

from streams.core.crisis import CrisisDetector
from streams.core.shared_crisis import CrisisShare, SharedCrisisScope
from streams.events import Rejection, decode_crisis_share, encode_crisis_share

HOUR = 3600


def audience(hours: range, per_hour: int, crisis_share: float, sentiment: float,
             brands: int = 4) -> list[tuple[float, int, bool, float]]:
    """(event time, brand index, crisis signal, sentiment) of evenly spread messages."""
    every = round(1 / crisis_share) if crisis_share else 0
    return [(h * HOUR + k * HOUR / per_hour, k % brands, bool(every and k % every == 0),
             sentiment) for h in hours for k in range(per_hour)]


def exchange(scopes: list[SharedCrisisScope]) -> None:
    shares = [s for s in (scope.take_share() for scope in scopes) if s is not None]
    for scope in scopes:
        for share in shares:
            scope.merge(share)


def run_split(events: list[tuple[float, int, bool, float]], exchange_every: int
              ) -> tuple[list[SharedCrisisScope], CrisisDetector]:
    """Two workers owning brands {0, 1} and {2, 3}, exchanging shares every N events,
    against one detector that sees every message."""
    workers = [SharedCrisisScope("worker-a"), SharedCrisisScope("worker-b")]
    whole = CrisisDetector()
    for n, (at, brand, signal, sentiment) in enumerate(events, 1):
        workers[brand // 2].observe(at, signal, sentiment)
        whole.observe(at, signal, sentiment)
        if n % exchange_every == 0:
            exchange(workers)
    exchange(workers)
    return workers, whole


def test_each_worker_sees_the_whole_stream_after_exchanging_shares() -> None:
    events = audience(range(0, 24), 40, 0.0, 0.2) + audience(range(24, 25), 240, 0.5, -0.4)
    workers, whole = run_split(events, exchange_every=97)
    expected = whole.status()
    assert expected.active
    for worker in workers:
        status = worker.detector.status()
        assert status.volume == expected.volume == 240
        assert status.vocabulary_rate == pytest.approx(expected.vocabulary_rate)
        assert status.sentiment_mean == pytest.approx(expected.sentiment_mean)
        assert status.baseline_mean == pytest.approx(expected.baseline_mean)
        assert status.active
        assert worker.sources == 2


def test_a_crisis_seen_only_by_the_other_worker_reaches_this_one() -> None:
    # The crisis hits brands 0 and 1 (worker a) only; worker b's own slice stays quiet.
    quiet = audience(range(0, 25), 40, 0.0, 0.2)
    crisis = [(at, brand % 2, True, -0.6) for at, brand, _, _ in audience(range(24, 25), 200,
                                                                           0.0, 0.0)]
    events = sorted(quiet + crisis)
    alone = SharedCrisisScope("worker-b")
    for at, brand, signal, sentiment in events:
        if brand >= 2:
            alone.observe(at, signal, sentiment)
    assert not alone.detector.crisis_active
    workers, whole = run_split(events, exchange_every=50)
    assert whole.crisis_active
    assert workers[1].detector.crisis_active


def test_shares_carry_totals_so_replays_and_repeats_change_nothing() -> None:
    a, b = SharedCrisisScope("a"), SharedCrisisScope("b")
    a.observe(10.0, True, -0.5)
    first = a.take_share()
    a.observe(20.0, False, 0.5)  # same 5-minute bucket
    second = a.take_share()
    assert first is not None and second is not None
    assert first.buckets == {0: (1, 1, -0.5)}
    assert second.buckets == {0: (2, 1, 0.0)}
    for share in (first, second, second, first, second):  # a topic read twice, reordered
        b.merge(share)
    status = b.detector.status()
    assert (status.volume, status.vocabulary_rate) == (2, 0.5)
    assert a.take_share() is None  # nothing changed since


def test_a_worker_ignores_its_own_share() -> None:
    a = SharedCrisisScope("a")
    a.observe(10.0, True, -0.5)
    share = a.take_share()
    assert share is not None
    a.merge(share)
    assert a.detector.status().volume == 1


def test_a_restarted_worker_is_a_new_source_and_its_old_counts_stay() -> None:
    old, new = SharedCrisisScope("w1-old"), SharedCrisisScope("w1-new")
    peer = SharedCrisisScope("w2")
    old.observe(100.0, False, 0.1)
    old_share = old.take_share()
    assert old_share is not None
    new.merge(old_share)  # the restarted worker reads the topic from the start
    peer.merge(old_share)
    new.observe(200.0, True, -0.2)
    share = new.take_share()
    assert share is not None
    peer.merge(share)
    assert peer.detector.status().volume == new.detector.status().volume == 2
    assert peer.sources == 2  # w1-old, w1-new; w2 has no counts of its own yet


def test_counts_older_than_the_retention_are_forgotten() -> None:
    a, b = SharedCrisisScope("a"), SharedCrisisScope("b")
    a.observe(0.0, True, -1.0)
    old = a.take_share()
    a.observe(100 * HOUR, False, 0.0)
    assert old is not None
    b.observe(100 * HOUR, False, 0.0)
    b.merge(old)  # arrives after b's window moved past it
    assert b.detector.status().volume == 1
    assert b.sources == 1
    a.observe(1.0, True, -1.0)  # late for a's own window too
    share = a.take_share()
    assert share is None or 0 not in share.buckets


def test_split_equals_whole_on_random_streams() -> None:
    rng = random.Random(3)
    events = [(rng.uniform(0, 30 * HOUR), rng.randrange(4), rng.random() < 0.1,
               rng.uniform(-1, 1)) for _ in range(3000)]
    events.sort(key=lambda e: e[0] + rng.uniform(-600, 600))  # out of order, as partitions
    workers, whole = run_split(events, exchange_every=rng.randrange(20, 200))
    expected = dataclasses.replace(whole.status(), active=False, since=None)
    for worker in workers:
        got = dataclasses.replace(worker.detector.status(), active=False, since=None)
        assert got.volume == expected.volume
        assert got.vocabulary_rate == pytest.approx(expected.vocabulary_rate)
        assert got.sentiment_mean == pytest.approx(expected.sentiment_mean)
        assert got.baseline_mean == pytest.approx(expected.baseline_mean)
        assert got.baseline_std == pytest.approx(expected.baseline_std)



# --------------------------------------------------------------------------- codec


def test_share_round_trips_through_its_json_record() -> None:
    share = CrisisShare("host-1-ab", 10.0, 700.5, {0: (3, 1, -0.25), 2: (1, 0, 1.0)})
    assert decode_crisis_share(encode_crisis_share(share, 300), 300) == share


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (b"not json", "malformed_json"),
        ([1, 2], "schema"),
        ({"first_seen": 0, "latest": 1, "bucket_seconds": 300, "buckets": []}, "schema"),
        ({"source": "a", "first_seen": 0, "latest": 1, "bucket_seconds": 60, "buckets": []},
         "schema"),
        ({"source": "a", "first_seen": "x", "latest": 1, "bucket_seconds": 300,
          "buckets": []}, "schema"),
        ({"source": "a", "first_seen": 0, "latest": 1, "bucket_seconds": 300,
          "buckets": [[0, 1, 2, 0.0]]}, "schema"),  # more crisis messages than messages
        ({"source": "a", "first_seen": 0, "latest": 1, "bucket_seconds": 300,
          "buckets": [[0, 1, 0, 5.0]]}, "schema"),  # sentiment sum beyond ±messages
        ({"source": "a", "first_seen": 0, "latest": 1, "bucket_seconds": 300,
          "buckets": [[0, 1]]}, "schema"),
    ],
)
def test_bad_shares_are_rejections_not_crashes(record: object, why: str) -> None:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    rejection = decode_crisis_share(raw, 300)
    assert isinstance(rejection, Rejection)
    assert rejection.reason.value == why


def test_own_counts_stay_bounded_without_taking_shares() -> None:
    scope = SharedCrisisScope("offline")
    for hour in range(200):  # 8 days, one message per 5-minute bucket
        for k in range(12):
            scope.observe(hour * HOUR + k * 300, False, 0.0)
    window = scope.detector.retention_s // scope.detector.bucket_s
    assert len(scope._own.buckets) <= 2 * window + 1
    assert scope.detector.status().volume == 12
