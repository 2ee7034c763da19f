"""Broadcast ratio, reply rate and robot score on hand-computed windows."""

from __future__ import annotations

import math

import pytest

from streams.core.conversation import (
    HourCounts,
    broadcast_ratio,
    conversation_snapshot,
    reply_rate,
    robot_score,
)

H = 3600


def test_broadcast_ratio_and_reply_rate() -> None:
    counts = HourCounts(broadcasts=3, replies=1, requiring_reply=10, answered=6, overdue=2)
    assert broadcast_ratio(counts) == 0.75
    # 2 messages are still inside their SLA: not decided, not counted.
    assert reply_rate(counts) == 6 / 8


def test_undefined_ratios_are_nan() -> None:
    assert math.isnan(broadcast_ratio(HourCounts()))
    assert math.isnan(reply_rate(HourCounts(requiring_reply=3)))


def test_robot_score_formula() -> None:
    # 0.4 * broadcast + 0.4 * (1 - reply rate) + 0.2 * templated, over present terms
    assert robot_score(0.5, 0.5, 0.5) == pytest.approx(0.5)
    assert robot_score(1.0, 0.0, 1.0) == 1.0
    assert robot_score(0.0, 1.0, 0.0) == 0.0
    assert robot_score(0.8, 1.0) == pytest.approx(0.4 * 0.8 / 0.8)
    assert robot_score(math.nan, 0.25) == pytest.approx(0.75)
    assert math.isnan(robot_score(math.nan, math.nan))


def test_broadcaster_scores_high_and_conversational_brand_low() -> None:
    robot = {100: HourCounts(broadcasts=20, replies=1, requiring_reply=30, answered=1,
                             overdue=25)}
    talker = {100: HourCounts(broadcasts=2, replies=28, requiring_reply=30, answered=28,
                              overdue=1)}
    now = 100 * H + 1800
    assert conversation_snapshot(robot, now).robot_score > 0.8
    assert conversation_snapshot(talker, now).robot_score < 0.1


def test_the_robot_score_needs_five_items_behind_each_term() -> None:
    now = 100 * H
    two_broadcasts = {100: HourCounts(broadcasts=2)}
    assert math.isnan(conversation_snapshot(two_broadcasts, now).robot_score)
    five = {100: HourCounts(broadcasts=5, requiring_reply=4, overdue=4)}
    assert conversation_snapshot(five, now).robot_score == 1.0  # unanswered term left out
    assert conversation_snapshot(five, now, templated_share=0.0).robot_score == (
        pytest.approx(0.4 / 0.6))


def test_windows_cover_the_current_and_previous_hours_only() -> None:
    buckets = {
        76: HourCounts(broadcasts=5),  # 25 hours before the current hour: outside 24h
        90: HourCounts(broadcasts=1, replies=1),
        100: HourCounts(replies=2),
    }
    snap = conversation_snapshot(buckets, 100 * H + 10)
    assert snap.broadcast_ratio["1h"] == 0.0
    assert snap.broadcast_ratio["24h"] == 0.25
