"""The global crisis scope shared between workers (SharedCrisisScope)."""

from __future__ import annotations

import dataclasses
import random

import orjson
import pytest

from streams.core.crisis_detector import CrisisDetector
from streams.core.shared_crisis import CrisisShare, SharedCrisisScope
from streams.events import Rejection
from streams.wire import CRISIS_RETENTION_SECONDS, decode_crisis_share, encode_crisis_share

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

NOW = 1_800_000_150.0  # the wall clock the decoder is given
FORGED = (b'{"source":"evil","bucket_seconds":300,"first_seen":1e12,"latest":1e15,'
          b'"buckets":[[3333333333333,100000,100000,-100000.0]]}')


def share_record(**fields: object) -> dict[str, object]:
    return {"source": "a", "first_seen": 0, "latest": 1, "bucket_seconds": 300,
            "buckets": [], **fields}


def test_share_round_trips_through_its_json_record() -> None:
    share = CrisisShare("host-1-ab", 10.0, 700.5, {0: (3, 1, -0.25), 2: (1, 0, 1.0)})
    assert decode_crisis_share(encode_crisis_share(share, 300), 300, NOW) == share


def test_the_decoder_default_retention_is_the_detectors() -> None:
    assert CrisisDetector().retention_s == CRISIS_RETENTION_SECONDS


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (b"not json", "malformed_json"),
        ([1, 2], "schema"),
        ({"first_seen": 0, "latest": 1, "bucket_seconds": 300, "buckets": []}, "schema"),
        (share_record(bucket_seconds=60), "schema"),
        (share_record(bucket_seconds=300.0), "schema"),
        (share_record(first_seen="x"), "schema"),
        (share_record(latest="NaN"), "schema"),
        (share_record(buckets=[[0, 1, 2, 0.0]]), "schema"),  # more crisis than messages
        (share_record(buckets=[[0, 1, 0, 5.0]]), "schema"),  # sentiment sum beyond ±messages
        (share_record(buckets=[[0, -5, 0, 0.0]]), "schema"),  # negative count
        (share_record(buckets=[[0, 10_000_001, 0, 0.0]]), "schema"),  # beyond the cap
        (share_record(buckets=[[0, 1]]), "schema"),
        (share_record(buckets=[[0, 1, 0, 0.0], [0, 2, 0, 0.0]]), "schema"),  # key twice
        (share_record(buckets=[[1, 1, 0, 0.0]]), "schema"),  # after latest's bucket
        (share_record(latest=100_000, buckets=[[0, 1, 0, 0.0]]), "schema"),  # older than 25 h
        (share_record(buckets=[[-k, 1, 0, 0.0] for k in range(302)]), "schema"),  # too many
        (share_record(first_seen=2, latest=1), "schema"),
        (share_record(source="s" * 257), "schema"),
        (share_record(buckets={"0": [1, 0, 0.0]}), "schema"),
        (share_record(latest=NOW + 301), "future_timestamp"),
        (share_record(first_seen=NOW, latest=NOW + 299, buckets=[[int(NOW // 300) + 1, 1, 0,
                                                                  0.0]]), "accepted"),
    ],
)
def test_bad_shares_are_rejections_not_crashes(record: object, why: str) -> None:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    result = decode_crisis_share(raw, 300, NOW)
    if why == "accepted":
        assert isinstance(result, CrisisShare)
    else:
        assert isinstance(result, Rejection)
        assert result.reason.value == why


def test_a_full_window_share_is_accepted_and_one_more_bucket_is_not() -> None:
    latest = NOW - 1000.0
    newest = int(latest // 300)
    window = [[newest - k, 2, 1, -1.5] for k in range(301)]
    assert isinstance(decode_crisis_share(orjson.dumps(share_record(
        first_seen=0.0, latest=latest, buckets=window)), 300, NOW), CrisisShare)
    too_old = [*window[:-1], [newest - 301, 2, 1, -1.5]]
    assert isinstance(decode_crisis_share(orjson.dumps(share_record(
        first_seen=0.0, latest=latest, buckets=too_old)), 300, NOW), Rejection)


def busy_scope() -> SharedCrisisScope:
    """A worker that has merged another worker's last hour of traffic."""
    scope, peer = SharedCrisisScope("me"), SharedCrisisScope("peer")
    for at, _, signal, sentiment in audience(range(10, 11), 60, 0.1, 0.3):
        peer.observe(NOW - 11 * HOUR + at, signal, sentiment)
    share = peer.take_share()
    assert share is not None
    scope.merge(share, not_after=NOW + 300)
    return scope


def scope_state(scope: SharedCrisisScope) -> tuple[object, ...]:
    status = scope.detector.status()
    return (scope.sources, status.volume, status.sentiment_mean, status.vocabulary_rate,
            scope.detector.watermark)


def test_the_forged_share_is_rejected_and_changes_nothing() -> None:
    scope = busy_scope()
    before = scope_state(scope)
    assert before[0] == 1 and before[1] > 50
    rejection = decode_crisis_share(FORGED, 300, NOW)
    assert isinstance(rejection, Rejection)
    assert rejection.reason.value == "future_timestamp"
    assert scope_state(scope) == before


def test_the_core_ignores_a_forged_share_that_got_past_the_decoder() -> None:
    """Defence in depth: a share object that was never validated cannot move the watermark
    beyond the caller's horizon, nor add counts past its own latest."""
    forged = CrisisShare("evil", 1e12, 1e15, {3333333333333: (100000, 100000, -100000.0)})
    scope = busy_scope()
    before = scope_state(scope)
    scope.merge(forged, not_after=NOW + 300)
    assert scope_state(scope) == before
    beyond_latest = CrisisShare("evil", NOW - 60, NOW - 60, {int(NOW // 300) + 5: (9, 9, -9)})
    scope.merge(beyond_latest, not_after=NOW + 300)
    assert scope_state(scope) == before
    impossible = CrisisShare("evil", NOW - 60, NOW - 60, {int((NOW - 60) // 300): (-50, 0, 0)})
    scope.merge(impossible, not_after=NOW + 300)
    assert scope_state(scope) == before
    # Without a horizon the same share would have moved the watermark: the guard matters.
    unguarded = busy_scope()
    unguarded.merge(forged)
    assert unguarded.detector.watermark == 1e15


def test_a_share_capped_at_the_horizon_keeps_its_plausible_buckets() -> None:
    scope = busy_scope()
    key = int((NOW - 60) // 300)
    scope.merge(CrisisShare("late-clock", NOW - 60, NOW + 3600, {key: (5, 0, 0.0)}),
                not_after=NOW + 300)
    watermark = scope.detector.watermark
    assert watermark is not None and watermark <= NOW + 300
    assert scope.sources == 2


def test_honest_shares_always_pass_the_decoder() -> None:
    """Every share a worker really sends (out-of-order events, a peer moving the window,
    late events, long runs) must be accepted: the bounds may not be stricter than
    take_share."""
    rng = random.Random(11)
    a, b = SharedCrisisScope("a"), SharedCrisisScope("b")
    start = NOW - 40 * HOUR
    taken = 0
    for n in range(6000):
        at = start + n * 24 + rng.uniform(-7200, 600)  # disorder and late events
        if rng.random() < 0.03:
            at -= rng.uniform(24 * HOUR, 26 * HOUR)  # near the retention edge, or past it
        scope = a if rng.random() < 0.5 else b
        scope.observe(at, rng.random() < 0.1, rng.uniform(-1, 1))
        if n % 97 == 0:
            for sender, receiver in ((a, b), (b, a)):
                share = sender.take_share()
                if share is None:
                    continue
                taken += 1
                wall = max(share.latest, NOW - 40 * HOUR + n * 24)
                decoded = decode_crisis_share(encode_crisis_share(share, 300), 300, wall)
                assert decoded == share, decoded
                receiver.merge(decoded, not_after=wall + 300)
    assert taken > 50


def test_own_counts_stay_bounded_without_taking_shares() -> None:
    scope = SharedCrisisScope("offline")
    for hour in range(200):  # 8 days, one message per 5-minute bucket
        for k in range(12):
            scope.observe(hour * HOUR + k * 300, False, 0.0)
    window = scope.detector.retention_s // scope.detector.bucket_s
    assert len(scope._own.buckets) <= 2 * window + 1
    assert scope.detector.status().volume == 12
