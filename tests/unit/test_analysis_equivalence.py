"""The speed-ups of the analysis change no output: each fast path against its reference.

* `CrisisDetector` decides without the baseline hours when they cannot matter and builds
  its status only when read; `EagerDetector` below is the former code (full evaluation at
  every decision, status built eagerly) and must agree decision by decision.
* `tokenize` memoises chunks, `profile_terms` memoises terms: both against the plain
  definitions, also right after their memo is cleared.
* On the real TWCS sample and the dev sets (when present, read from ../shared/data), the
  engine with eager detectors produces the same observations, features and snapshots.
  `bench/equivalence.py` compares against any older git revision as well.
"""

from __future__ import annotations

import csv
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.core.behaviour as behaviour_module
import streams.core.shared_crisis as shared_crisis_module
import streams.core.text as text_module
import streams.core.topics as topics_module
from streams.core.crisis_detector import CrisisDetector, CrisisStatus
from streams.core.text import _TOKEN_RE, content_tokens, fold, prepare, tokenize
from streams.core.topics import MIN_TERM_LENGTH, TopicProfile, profile_terms
from streams.engine import Engine

TWCS_SAMPLE = "twcs/twcs_5k.csv"  # in the evaluation data (the `shared_data` fixture)
DEV_SETS = (
    "sentiment/en_semeval2017_dev.csv",
    "sentiment/en_airline_brands_dev.csv",
    "sentiment/fr_deft2017_dev.csv",
    "crisis/crisislex_t6_dev.csv",
)
T0 = 1_700_000_000.0


class EagerDetector(CrisisDetector):
    """The detector as it was: every decision evaluates all three signals (baseline hours
    included) and builds the status at once."""

    def _update(self) -> None:
        self._dirty = False
        status = self._evaluate()
        now = self._watermark
        if now is None:
            self._status = status
            return
        if not self._active:
            if status.signals >= 2 and status.vocabulary_rate >= self.vocabulary_rate_off:
                self._active = True
                self._since = now
                self._quiet_since = None
        else:
            quiet = status.signals <= 1 and status.vocabulary_rate < self.vocabulary_rate_on
            if not quiet:
                self._quiet_since = None
            elif self._quiet_since is None:
                self._quiet_since = now
            elif now - self._quiet_since >= self.cooldown_s:
                self._active = False
                self._since = None
                self._quiet_since = None
        self._status = replace(status, active=self._active, since=self._since)

    def status(self) -> CrisisStatus:
        if self._dirty or self._status is None:
            self._update()
        assert self._status is not None
        return self._status


def _decision(detector: CrisisDetector) -> tuple[Any, ...]:
    return (detector._active, detector._since, detector._quiet_since, detector._dirty)


# Streams of one scope: (seconds since the previous step, action). Dense phases build a
# baseline, bursts of crisis messages activate, quiet phases cool down; shares add counts
# as another worker's do, and `advance` moves time without a message.
_STEP = st.tuples(
    st.sampled_from([0, 1, 20, 60, 299, 300, 900, 3600, 4 * 3600]),
    st.one_of(
        st.tuples(st.just("observe"), st.booleans(), st.floats(-1.0, 1.0)),
        st.tuples(st.just("burst"), st.integers(1, 60), st.floats(0.0, 1.0)),
        st.tuples(st.just("share"), st.integers(0, 40), st.integers(0, 10)),
        st.tuples(st.just("advance"), st.just(0), st.just(0.0)),
        st.tuples(st.just("late"), st.integers(1, 80), st.booleans()),
        st.tuples(st.just("read"), st.just(0), st.just(0.0)),
    ),
)


def _apply(detectors: list[CrisisDetector], at: float, action: tuple[Any, ...]) -> None:
    kind, a, b = action
    for detector in detectors:
        local = random.Random(f"{at} {a} {b}")  # the same draws for every detector
        if kind == "observe":
            detector.observe(at, a, b)
        elif kind == "burst":
            for k in range(a):
                detector.observe(at + k, local.random() < b, local.uniform(-1, 1))
        elif kind == "share":
            key = int(at // detector.bucket_s)
            detector.add_counts(key, a, min(b, a), 0.25 * a, at - 86_400, at)
        elif kind == "advance":
            detector.advance(at)
        elif kind == "late":
            detector.observe(at - a * 300, b, -0.5)


@given(st.lists(_STEP, min_size=1, max_size=120), st.integers(0, 3))
@settings(max_examples=300, deadline=None)
def test_lazy_detector_decides_like_the_eager_one(steps: list[Any], preset: int) -> None:
    params = [{}, {"min_history_s": 0, "min_volume": 3},
              {"vocabulary_rate_on": 0.3, "vocabulary_rate_off": 0.0, "cooldown_s": 300},
              {"spike_k": 0.5, "sentiment_drop": 0.0, "min_volume": 1}][preset]
    lazy, eager = CrisisDetector(**params), EagerDetector(**params)
    at = T0
    for gap, action in steps:
        at += gap
        _apply([lazy, eager], at, action)
        assert _decision(lazy) == _decision(eager)
        if action[0] == "read":
            assert lazy.crisis_active == eager.crisis_active
            assert lazy.status() == eager.status()
    assert lazy.status() == eager.status()
    assert _decision(lazy) == _decision(eager)


def test_detector_stream_that_activates_and_cools_down_matches_the_eager_one() -> None:
    """A hand-made crisis: 12 h of steady traffic, a 1 h burst of crisis messages with a
    sentiment dip, then quiet; the eager and lazy detectors flip at the same instants."""
    lazy, eager = CrisisDetector(), EagerDetector()
    flips: list[list[tuple[float, bool]]] = [[], []]
    rng = random.Random(5)
    for minute in range(24 * 60):
        at = T0 + 60 * minute
        per_minute = 12 if 12 * 60 <= minute < 13 * 60 else 1
        for k in range(per_minute):
            crisis = per_minute > 1 and rng.random() < 0.5
            sentiment = -0.8 if crisis else rng.uniform(-0.2, 0.4)
            lazy.observe(at + k, crisis, sentiment)
            eager.observe(at + k, crisis, sentiment)
        if minute % 7 == 0:  # reads, as the engine's per-minute checks do
            for i, detector in enumerate((lazy, eager)):
                active = detector.crisis_active
                if active != (flips[i][-1][1] if flips[i] else False):
                    flips[i].append((at, active))
    assert flips[0] == flips[1]
    assert [active for _, active in flips[0]] == [True, False]
    assert lazy.status() == eager.status()


@given(st.text(max_size=200))
@settings(max_examples=300)
def test_memoised_tokenizer_equals_the_regex_even_after_a_clear(text: str) -> None:
    norm = fold(text)
    assert tokenize(norm) == _TOKEN_RE.findall(norm)
    text_module._CHUNK_MEMO.clear()
    assert tokenize(norm) == _TOKEN_RE.findall(norm)
    assert tokenize(norm) == _TOKEN_RE.findall(norm)  # from the memo


def _reference_terms(text: str) -> list[str]:
    return [t for t in content_tokens(prepare(text)) if len(t) >= MIN_TERM_LENGTH]


@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(
    ["#Sandy", "sandy", "the", "les", "2024", "#55001", "@acme", "http://t.co/x", "www.x.fr",
     "ok", "a_b", "_x", "l'équipe", "don't", "😂", "!!!", "œuvre"]), max_size=30).map(" ".join)))
@settings(max_examples=300)
def test_memoised_profile_terms_equal_the_definition(text: str) -> None:
    assert profile_terms(text) == _reference_terms(text)
    topics_module._TERMS.clear()
    assert profile_terms(prepare(text)) == _reference_terms(text)


def test_topic_profile_counts_any_iterable_of_terms_once() -> None:
    from_list, from_generator = TopicProfile(), TopicProfile()
    terms = ["flood", "help", "flood", "sandy"]
    from_list.add_terms(T0, terms)
    from_generator.add_terms(T0, (t for t in terms))
    assert from_list.counts() == from_generator.counts() == {"flood": 2, "help": 1, "sandy": 1}
    assert list(from_list._totals) == ["flood", "help", "sandy"]  # first-seen key order


# --------------------------------------------------------------------------- real data


def _texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle) if row.get("text")]


def test_memoised_text_paths_match_their_definitions_on_real_text(shared_data: Path) -> None:
    texts = [t for name in (TWCS_SAMPLE, *DEV_SETS) for t in _texts(shared_data / name)]
    assert len(texts) > 10_000
    for text in texts:
        norm = fold(text)
        assert tokenize(norm) == _TOKEN_RE.findall(norm), text
        assert profile_terms(text) == _reference_terms(text), text


def _run_engine(events: list[Any], brands: Any) -> list[Any]:
    engine = Engine(brands)
    out: list[Any] = [repr(o) for o in engine.ingest_all(events)]
    for brand in sorted(engine.active_brands()):
        out.append(repr(engine.snapshot(brand, engine.brand_now(brand, engine.stream_time))))
        out.append(engine.behaviour.brand(brand).crisis.status())
        out.append(sorted(engine.features(brand).items()))  # type: ignore[union-attr]
    out.append(engine.behaviour.global_crisis.detector.status())
    return out


def test_engine_on_real_twcs_is_unchanged_by_the_lazy_detector(
        monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    from streams.sources.files import load_events

    events, brands = load_events(str(shared_data / TWCS_SAMPLE), "twcs")
    fast = _run_engine(events, brands)
    monkeypatch.setattr(behaviour_module, "CrisisDetector", EagerDetector)
    monkeypatch.setattr(shared_crisis_module, "CrisisDetector", EagerDetector)
    eager_engine = Engine(brands)
    assert isinstance(eager_engine.behaviour.global_crisis.detector, EagerDetector)
    assert fast == _run_engine(events, brands)
