"""Crisis vocabulary, per-message signal, CrisisDetector and declared crises."""

from __future__ import annotations

import pytest

from streams.core.crisis import (
    DeclaredCrisis,
    active_crises,
    crisis_match,
    crisis_signal,
    crisis_terms,
    matching_crisis,
)
from streams.core.crisis_detector import CrisisDetector

HOUR = 3600


# --------------------------------------------------------------------------- vocabulary


@pytest.mark.parametrize(
    "text",
    [
        "Thoughts and prayers to everyone affected by the floods",
        "Death toll rises to 12 after the explosion at the plant",
        "Tornado warning for the county, take shelter now",
        "Hurricane Sandy makes landfall tonight",
        "Red Cross is collecting donations for the victims",
        "#qldfloods roads closed near the river",
        "Séisme en Italie : le bilan s'alourdit",
        "Inondations dans le Gard, des milliers de sinistrés",
        "Attentat à Nice, nos pensées vont aux victimes",
    ],
)
def test_crisis_messages_raise_the_signal(text: str) -> None:
    assert crisis_signal(text), crisis_match(text)


@pytest.mark.parametrize(
    "text",
    [
        "the death of my phone battery is a tragedy lol",  # "tragedy" guarded by phone/lol
        "Attack on Titan season finale tonight",
        "massive savings this weekend",
        "This cake is to die for",
        "My internet has been down all morning, please help",
        "Le service client est mort de rire",
    ],
)
def test_everyday_uses_do_not_raise_the_signal(text: str) -> None:
    match = crisis_match(text)
    assert match.strong == 0
    # (The battery sentence used to raise the signal through two weak terms; "tragedy" next
    # to "phone"/"lol" is now the everyday sense and is not counted.)
    assert not match.signal, match


def test_terms_are_reported_in_display_form_and_order() -> None:
    terms = crisis_terms("Flood victims need help; death toll rises")
    assert terms[:2] == ["flood victims", "death toll"]


def test_strong_single_term_versus_weak_pair() -> None:
    assert crisis_match("a tornado").signal
    weak = crisis_match("so many prayers")  # "victims" is strong since issue 13
    assert weak.weak == 1 and not weak.signal
    assert crisis_match("prayers after the blast").signal


def test_stopwords_inside_phrases_are_ignored() -> None:
    assert "thoughts prayers" in crisis_terms("thoughts and prayers")
    assert "tremblement de terre" in crisis_terms("un tremblement de terre ce matin")


# --------------------------------------------------------------------------- detector


def feed_hours(
    detector: CrisisDetector,
    start_h: int,
    hours: int,
    per_hour: int,
    crisis_share: float,
    sentiment: float,
) -> None:
    for h in range(start_h, start_h + hours):
        crisis_every = round(1 / crisis_share) if crisis_share else 0
        for k in range(per_hour):
            t = h * HOUR + k * (HOUR / per_hour)
            hit = 1 if crisis_every and k % crisis_every == 0 else 0
            detector.observe(t, hit, sentiment)


def test_quiet_scope_is_not_in_crisis() -> None:
    detector = CrisisDetector()
    feed_hours(detector, 0, 30, per_hour=30, crisis_share=0.0, sentiment=0.2)
    status = detector.status()
    assert not detector.crisis_active
    assert status.signals == 0
    assert status.baseline_mean == pytest.approx(30, abs=1)


def test_spike_with_crisis_vocabulary_activates() -> None:
    detector = CrisisDetector()
    feed_hours(detector, 0, 24, per_hour=30, crisis_share=0.0, sentiment=0.2)
    feed_hours(detector, 24, 1, per_hour=200, crisis_share=0.5, sentiment=-0.4)
    status = detector.status()
    assert status.spike and status.sentiment_dip
    assert status.vocabulary_rate >= 0.4
    assert detector.crisis_active
    assert status.since is not None


def test_volume_spike_of_angry_customers_without_crisis_words_is_not_a_crisis() -> None:
    detector = CrisisDetector()
    feed_hours(detector, 0, 24, per_hour=30, crisis_share=0.0, sentiment=0.2)
    feed_hours(detector, 24, 1, per_hour=200, crisis_share=0.0, sentiment=-0.6)
    status = detector.status()
    assert status.spike and status.sentiment_dip
    assert not detector.crisis_active  # an outage, not a crisis


def test_vocabulary_alone_at_steady_volume_is_not_enough() -> None:
    detector = CrisisDetector()
    feed_hours(detector, 0, 26, per_hour=30, crisis_share=0.5, sentiment=0.2)
    assert not detector.crisis_active


def test_hysteresis_keeps_the_crisis_through_cooldown_then_ends_it() -> None:
    detector = CrisisDetector(cooldown_s=2 * HOUR)
    feed_hours(detector, 0, 24, per_hour=30, crisis_share=0.0, sentiment=0.2)
    feed_hours(detector, 24, 1, per_hour=200, crisis_share=0.5, sentiment=-0.4)
    assert detector.crisis_active
    # Back to normal: one hour later still active (cooldown), three hours later over.
    feed_hours(detector, 25, 2, per_hour=30, crisis_share=0.0, sentiment=0.2)
    assert detector.crisis_active
    feed_hours(detector, 27, 2, per_hour=30, crisis_share=0.0, sentiment=0.2)
    assert not detector.crisis_active
    assert detector.status().since is None


def test_advance_ends_a_crisis_without_new_messages() -> None:
    detector = CrisisDetector(cooldown_s=HOUR)
    feed_hours(detector, 0, 24, per_hour=30, crisis_share=0.0, sentiment=0.2)
    feed_hours(detector, 24, 1, per_hour=200, crisis_share=0.5, sentiment=-0.4)
    assert detector.crisis_active
    detector.advance(27 * HOUR)
    detector.advance(29 * HOUR)
    assert not detector.crisis_active


def test_detector_is_deterministic_and_order_tolerant_within_a_bucket() -> None:
    events = [(1000.0 + i, i % 3 == 0, -0.5 if i % 2 else 0.5) for i in range(300)]
    a, b = CrisisDetector(), CrisisDetector()
    for t, hit, s in events:
        a.observe(t, hit, s)
    for t, hit, s in sorted(events, key=lambda e: (int(e[0]) // 300, -e[0])):
        b.observe(t, hit, s)
    assert a.status() == b.status()


def test_events_older_than_retention_are_ignored() -> None:
    detector = CrisisDetector()
    detector.observe(100 * HOUR, 0, 0.0)
    detector.observe(1 * HOUR, 1, -1.0)
    assert detector.status().volume == 1


def test_invalid_window_is_rejected() -> None:
    with pytest.raises(ValueError):
        CrisisDetector(bucket_s=7 * 60)


# --------------------------------------------------------------------------- declared crises

SANDY = DeclaredCrisis(
    name="Hurricane Sandy",
    keywords=("hurricane", "Sandy"),
    hashtags=("#Sandy", "frankenstorm"),
    region="US East Coast",
    start=1000.0,
    end=5000.0,
)


def test_declared_crisis_matches_hashtags_case_insensitively() -> None:
    assert SANDY.matched_by("Stay dry!", ["#SANDY"]) == "#sandy"
    assert SANDY.matched_by("Stay dry #FrankenStorm") == "#frankenstorm"


def test_declared_crisis_matches_keywords_on_word_boundaries() -> None:
    assert SANDY.matched_by("Bored by the HURRICANE?") == "hurricane"
    assert SANDY.matched_by("sandyhook trail run this weekend") is None
    assert SANDY.matched_by("nothing to see here") is None


def test_declared_crisis_activity_window() -> None:
    assert SANDY.is_active(1000.0) and SANDY.is_active(5000.0)
    assert not SANDY.is_active(999.0) and not SANDY.is_active(5001.0)
    assert not SANDY.is_active()  # ended
    ongoing = DeclaredCrisis(name="x", start=0.0)
    assert ongoing.is_active()
    assert active_crises([SANDY, ongoing], at=6000.0) == [ongoing]


def test_matching_crisis_respects_time() -> None:
    assert matching_crisis("#Sandy sale", [], [SANDY], at=2000.0) == (SANDY, "#sandy")
    assert matching_crisis("#Sandy sale", [], [SANDY], at=9000.0) is None


def test_late_events_update_the_baseline() -> None:
    detector = CrisisDetector()
    feed_hours(detector, 0, 10, per_hour=30, crisis_share=0.0, sentiment=0.0)
    before = detector.status().baseline_mean
    for k in range(240):  # late arrivals into hour 5
        detector.observe(5 * HOUR + k, 0, 0.0)
    assert detector.status().baseline_mean == pytest.approx(before + 240 / 24)
