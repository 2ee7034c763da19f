"""What a crisis is about (streams/core/crisis_content.py), the figurative hazard families
and the text normalisation every cue reads, each on cases computed by hand."""

from __future__ import annotations

import pytest

from streams.core.behaviour import detected_crisis
from streams.core.crisis import DeclaredCrisis
from streams.core.crisis_content import (
    BUCKET_S,
    MAX_TERMS_PER_BUCKET,
    NOTHING_LEARNED,
    WINDOW_S,
    CrisisAbout,
    CrisisContent,
)
from streams.core.promo import ToneDeafReason, figurative_hit, is_promotional, tone_verdict
from streams.core.text import clean, prepare

DAY = 19_676 * 86_400.0  # a day boundary, so that hours and days are easy to count
H = 3600.0
CRISIS = ["hurricane", "jersey", "order", "scared"]


def ordinary_day(content: CrisisContent, n: int = 100) -> None:
    """`n` ordinary messages the day before (no crisis signal): the baseline's size."""
    for i in range(n):
        content.observe(DAY - 86_400 + i * 60, False, ["order", "late"])


def crisis_hour(content: CrisisContent, n: int = 10, at: float = DAY + H) -> None:
    """`n` crisis-signal messages within one hour, all carrying CRISIS and #sandy."""
    for i in range(n):
        content.observe(at + i * 60, True, CRISIS, ["sandy"])


# -- learning against the baseline ---------------------------------------------------------

def test_a_crisis_learns_its_hashtag_hazard_and_place_but_not_the_brands_everyday_words(
        ) -> None:
    content = CrisisContent()
    ordinary_day(content)
    crisis_hour(content)
    # The scope's 7-day audience counts, crisis messages included: "order" is in every
    # ordinary message (100 + 10), "jersey" in 2 ordinary ones besides the 10 crisis ones.
    baseline = {"order": 110, "late": 100, "hurricane": 10, "jersey": 12, "scared": 10}
    about = content.about(baseline)
    # 10 crisis messages, 100 ordinary ones. A term is carried when its share of crisis
    # messages (10/10 = 1) is >= 4 x (ordinary count + 1) / 100:
    #   hurricane 1 >= 0.04, jersey 1 >= 0.12, order 1 < 4.04; "scared" is a feeling.
    assert about == CrisisAbout(hashtags=("sandy",), hazards=("hurricane",), places=("jersey",))
    assert about.shown() == ["#sandy", "hurricane", "jersey"]
    assert detected_crisis("acme", about=about, since=DAY + H).title == (
        "audience crisis on acme since 2023-11-15 01:00 UTC: #sandy, hurricane, jersey")


@pytest.mark.parametrize(("ordinary", "carried"), [(6, True), (7, False)])
def test_the_lift_threshold_on_the_baseline(ordinary: int, carried: bool) -> None:
    """"beach" in 3 of 10 crisis messages (share 0.3): carried while 0.3 >= 4 (n + 1) / 100,
    i.e. while it appears in at most 6 of the 100 ordinary messages."""
    content = CrisisContent()
    ordinary_day(content)
    for i in range(10):
        content.observe(DAY + H + i * 60, True, ["beach"] if i < 3 else ["other"])
    about = content.about({"beach": 3 + ordinary, "other": 7})
    assert ("beach" in about.places) is carried


def test_too_few_messages_or_too_small_a_share_learn_nothing() -> None:
    content = CrisisContent()
    ordinary_day(content)
    crisis_hour(content, n=2)  # under MIN_SUPPORT = 3 crisis messages
    assert content.about({}) is NOTHING_LEARNED
    assert not content.about({})
    # 3 of 100 crisis messages (0.03 < MIN_SHARE 0.04): support, but no share.
    content = CrisisContent()
    ordinary_day(content)
    for i in range(100):
        content.observe(DAY + H + i * 30, True, ["rare"] if i < 3 else ["hurricane"])
    about = content.about({"hurricane": 97, "rare": 3})
    assert about.hazards == ("hurricane",) and "rare" not in about.places


def test_ordinary_messages_alone_learn_nothing() -> None:
    content = CrisisContent()
    ordinary_day(content, 500)
    assert content.about({"order": 500, "late": 500}) is NOTHING_LEARNED


def test_the_answer_is_cached_until_a_crisis_message_or_a_new_hour() -> None:
    content = CrisisContent()
    ordinary_day(content)
    crisis_hour(content)
    first = content.about({"hurricane": 10})
    assert content.about({"hurricane": 10_000}) is first  # same hour, no new message
    content.observe(DAY + H + 3000, True, ["hurricane"], ["sandy"])
    assert content.about({"hurricane": 10_000}).hazards == ()  # recomputed


# -- bounded memory and expiry -------------------------------------------------------------

def test_a_bucket_keeps_at_most_its_bound_of_terms_and_counts_those_it_has() -> None:
    content = CrisisContent()
    many = [f"t{i}" for i in range(3 * MAX_TERMS_PER_BUCKET)]
    content.observe(DAY, True, many, many)
    (bucket,) = content._buckets.values()
    kept = next(iter(bucket.terms))  # which ones are kept: the set's order, any of them
    content.observe(DAY + 1, True, [kept, "brand-new"], [kept, "brand-new"])
    assert len(bucket.terms) == len(bucket.tags) == MAX_TERMS_PER_BUCKET
    assert bucket.terms[kept] == 2
    assert "brand-new" not in bucket.terms and bucket.messages == 2


def test_buckets_and_days_stay_bounded_over_a_month_of_crisis_messages() -> None:
    content = CrisisContent()
    for minute in range(30 * 24 * 60 // 10):  # one crisis message every 10 minutes
        content.observe(DAY + minute * 600, True, ["hurricane"])
    assert len(content._buckets) <= WINDOW_S // BUCKET_S + 1
    assert len(content._days) <= 8  # the 7-day baseline and today


def test_crisis_messages_leave_the_window_after_six_hours() -> None:
    """Bucket k (the hour of the crisis) goes when a message at k + 6 h arrives; one second
    earlier it is kept."""
    content = CrisisContent()
    ordinary_day(content)
    crisis_hour(content, at=DAY + H)  # hour key DAY/H + 1, messages up to DAY + H + 540
    content.observe(DAY + H + WINDOW_S - 1, False, ["order"])
    assert content.about({"hurricane": 10}).hazards == ("hurricane",)
    content.observe(DAY + H + WINDOW_S, False, ["order"])
    assert content.about({"hurricane": 10}) is NOTHING_LEARNED
    # a late crisis message older than the window is not counted
    content.observe(DAY + H, True, CRISIS, ["sandy"])
    assert content._buckets == {}


def test_non_finite_times_are_ignored() -> None:
    content = CrisisContent()
    content.observe(float("nan"), True, ["hurricane"])
    content.observe(float("inf"), True, ["hurricane"])
    assert content._buckets == {} and content._days == {}


# -- figurative uses of the hazard ---------------------------------------------------------

HURRICANE = DeclaredCrisis("Hurricane Sandy", ("hurricane", "sandy"), ("sandy",), None, 0)
WILDFIRE = DeclaredCrisis("Camp Fire", ("wildfire",), (), None, 0)
EARTHQUAKE = DeclaredCrisis("Nepal earthquake", ("earthquake",), (), None, 0)
SHOOTING = DeclaredCrisis("Aurora shooting", ("shooting",), (), None, 0)
FIGURATIVE = [
    ("Our storm of savings is here: everything must go!", HURRICANE, "storm of"),
    ("Hot deals all weekend long", WILDFIRE, "hot deals"),
    ("Time to shake up your look", EARTHQUAKE, "shake up"),
]


@pytest.mark.parametrize(("text", "crisis", "pun"), FIGURATIVE)
def test_a_figurative_hazard_touches_its_crisis(text: str, crisis: DeclaredCrisis,
                                                pun: str) -> None:
    assert figurative_hit(prepare(text), crisis) == pun
    verdict = tone_verdict(text, [crisis], 10.0, words=True)
    assert verdict.reason is ToneDeafReason.HASHTAG_HIJACK
    assert (verdict.crisis, verdict.hit) == (crisis, pun)
    assert pun in verdict.joke_words
    assert f"rides '{pun}' of the active crisis '{crisis.name}'" in (verdict.explanation or "")


@pytest.mark.parametrize(("text", "crisis", "pun"), FIGURATIVE)
def test_the_same_words_without_that_crisis_touch_nothing(text: str, crisis: DeclaredCrisis,
                                                          pun: str) -> None:
    assert tone_verdict(text, [], 10.0).reason is None
    for other in (HURRICANE, WILDFIRE, EARTHQUAKE, SHOOTING):
        if other is not crisis:
            assert figurative_hit(prepare(text), other) is None
            assert tone_verdict(text, [other], 10.0).reason is not ToneDeafReason.HASHTAG_HIJACK


def test_a_detected_crisis_puns_by_the_hazard_its_audience_learned() -> None:
    crisis = detected_crisis("acme", about=CrisisAbout(hazards=("wildfire",)))
    assert crisis.hazard_families == frozenset({"fire"})
    verdict = tone_verdict("Hot deals all weekend long", [crisis], 10.0)
    assert (verdict.reason, verdict.hit) == (ToneDeafReason.HASHTAG_HIJACK, "hot deals")
    assert tone_verdict("Hot deals all weekend long", [detected_crisis("acme")],
                        10.0).reason is None  # nothing learned: no hazard, one deal word


def test_a_supportive_post_with_the_hazards_words_is_not_a_pun() -> None:
    text = "Our thoughts are with everyone in the storm of the century: stay safe"
    assert tone_verdict(text, [HURRICANE], 10.0).reason is None


# -- normalisation before every cue --------------------------------------------------------

@pytest.mark.parametrize("text", [
    "30%\u200b off everything",  # zero-width space
    "30% o\u00adff everything",  # soft hyphen
    "3\x070% off everything",  # a control character (BEL)
    "30%\u2060 off\ufeff everything",  # word joiner, BOM
    "\uff13\uff10\uff05 \uff4f\uff46\uff46 everything",  # full-width (NFKC)
    "\U0001d42c\U0001d421\U0001d428\U0001d429 \U0001d427\U0001d428\U0001d430",  # bold "shop now"
])
def test_hidden_or_look_alike_characters_do_not_hide_a_promotion(text: str) -> None:
    assert is_promotional(text)
    verdict = tone_verdict(text, [HURRICANE], 10.0)
    assert verdict.reason is ToneDeafReason.PROMOTIONAL_IN_CRISIS


def test_clean_keeps_what_a_reader_sees() -> None:
    assert clean("30%\u200b o\u00adff\x07") == "30% off"
    assert clean("\ufb01re \u2460") == "fire 1"  # ligature, circled digit: NFKC
    assert clean("a\tb\nc d") == "a\tb\nc d"  # whitespace is not a control to remove
    assert clean("plain ascii") == "plain ascii"
    assert prepare("Caf\u00e9\u200b").raw == "Caf\u00e9"
