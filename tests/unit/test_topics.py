"""Brand vs audience term profiles over 7 days of event time."""

from __future__ import annotations

import pytest

from streams.core.topics import DAY_S, TopicAlignment, TopicProfile, cosine, profile_terms


def test_terms_drop_stopwords_mentions_urls_and_merge_hashtags() -> None:
    terms = profile_terms("@acme The #Storm is coming and the storm is near https://t.co/x")
    assert terms.count("storm") == 2
    assert "the" not in terms and "acme" not in terms and "is" not in terms
    fr = profile_terms("La tempête arrive sur la côte, les inondations menacent")
    assert "tempete" in fr and "inondations" in fr
    assert "la" not in fr and "les" not in fr and "sur" not in fr


def test_identical_profiles_align_and_disjoint_ones_do_not() -> None:
    same = TopicAlignment()
    same.add_audience(0, "flight delayed at the airport gate")
    same.add_broadcast(0, "flight delayed at the airport gate")
    assert same.alignment() == pytest.approx(1.0)

    apart = TopicAlignment()
    apart.add_audience(0, "flight delayed at the airport gate")
    apart.add_broadcast(0, "celebrate summer with our new cocktail recipes")
    assert apart.alignment() == 0.0


def test_partial_overlap_is_between_zero_and_one() -> None:
    pair = TopicAlignment()
    pair.add_audience(0, "refund refund cancelled flight refund")
    pair.add_broadcast(0, "our refund policy and summer destinations")
    assert 0.0 < pair.alignment() < 1.0


def test_empty_sides_have_zero_alignment() -> None:
    pair = TopicAlignment()
    assert pair.alignment() == 0.0
    pair.add_audience(0, "hello world")
    assert pair.alignment() == 0.0


def test_day_buckets_expire_after_seven_days() -> None:
    profile = TopicProfile(days=7)
    profile.add(0.5 * DAY_S, "hurricane warning")
    profile.add(3.5 * DAY_S, "refund please")
    assert profile.counts() == {"hurricane": 1, "warning": 1, "refund": 1, "please": 1}
    profile.advance(7.2 * DAY_S)  # day 7: day 0 leaves the window [1, 7]
    assert "hurricane" not in profile.counts()
    assert profile.counts()["refund"] == 1
    profile.advance(11 * DAY_S)
    assert len(profile) == 0


def test_events_older_than_the_window_are_ignored() -> None:
    profile = TopicProfile(days=7)
    profile.add(20 * DAY_S, "fresh news")
    profile.add(2 * DAY_S, "stale news")
    assert profile.counts() == {"fresh": 1, "news": 1}


def test_audience_and_brand_share_one_clock() -> None:
    pair = TopicAlignment()
    pair.add_broadcast(0, "summer cocktails")
    pair.add_audience(10 * DAY_S, "summer cocktails")
    assert pair.top_broadcast_terms() == []  # expired by the audience's clock
    assert pair.alignment() == 0.0


def test_top_audience_terms_are_ordered_with_deterministic_ties() -> None:
    pair = TopicAlignment()
    for text in ["refund refund delay", "delay refund", "zebra apple"]:
        pair.add_audience(100, text)
    assert pair.top_audience_terms(3) == [("refund", 3), ("delay", 2), ("apple", 1)]
    assert pair.top_audience_terms(0) == []


def test_cosine_is_symmetric_and_uses_sublinear_weights() -> None:
    a, b = {"x": 100, "y": 1}, {"x": 1, "y": 1}
    assert cosine(a, b) == pytest.approx(cosine(b, a))
    # 1 + ln(count) weights give 0.82; raw counts would give 0.71 (x dominating).
    assert cosine(a, b) == pytest.approx(0.82, abs=0.01)


def test_invalid_window() -> None:
    with pytest.raises(ValueError):
        TopicProfile(days=0)
