"""Broadcast-to-conversation counts in event-time hour buckets, and the robot score.

Everything here is a pure function of counts, so the same numbers come out of the live
workers and of the offline report. Definitions are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum

HOUR = 3600
DAY = 24 * HOUR


class Window(StrEnum):
    """The rolling windows of the conversation gauges (the `window` metric label)."""

    HOUR = "1h"
    DAY = "24h"


WINDOWS: dict[Window, int] = {Window.HOUR: 1, Window.DAY: 24}  # -> number of hour buckets

# A robot-score term needs this many posts / decided messages / replies behind it: a brand
# whose first two posts are broadcasts is not yet a robot.
MIN_EVIDENCE = 5
# Robot score weights; a missing signal's weight is dropped and the rest renormalised.
ROBOT_WEIGHT_BROADCAST = 0.4
ROBOT_WEIGHT_UNANSWERED = 0.4
ROBOT_WEIGHT_TEMPLATED = 0.2


def hour_of(epoch_seconds: float) -> int:
    """The event-time hour bucket an instant falls in (hours since the epoch, UTC)."""
    return math.floor(epoch_seconds / HOUR)


@dataclass(slots=True)
class HourCounts:
    """What happened in one brand's hour bucket, by the event time of each item."""

    broadcasts: int = 0  # brand posts that answer nobody
    replies: int = 0  # brand posts that answer someone
    requiring_reply: int = 0  # audience messages created this hour that need an answer
    answered: int = 0  # …of which have been answered (at any later time)
    overdue: int = 0  # …of which passed their SLA deadline and are still unanswered

    def add(self, other: HourCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def window_total(buckets: dict[int, HourCounts], current_hour: int, hours: int) -> HourCounts:
    """Sum of the `hours` buckets ending with `current_hour` (inclusive)."""
    total = HourCounts()
    for hour in range(current_hour - hours + 1, current_hour + 1):
        counts = buckets.get(hour)
        if counts is not None:
            total.add(counts)
    return total


def broadcast_ratio(counts: HourCounts) -> float:
    """Broadcasts ÷ all brand posts; NaN when the brand posted nothing."""
    posts = counts.broadcasts + counts.replies
    return counts.broadcasts / posts if posts else math.nan


def reply_rate(counts: HourCounts) -> float:
    """Answered ÷ decided messages (answered, or overdue and unanswered); NaN when none.

    Messages still inside their SLA and unanswered are not decided yet: counting them
    as failures would make every brand look slow in the most recent hour.
    """
    decided = counts.answered + counts.overdue
    return counts.answered / decided if decided else math.nan


def with_evidence(share: float, count: int) -> float:
    """The share, or NaN when it rests on fewer than MIN_EVIDENCE items."""
    return share if count >= MIN_EVIDENCE else math.nan


def robot_score(
    broadcast_share: float, answered_share: float, templated_share: float = math.nan
) -> float:
    """Weighted mean of broadcast share, unanswered share and templated-reply share.

    A term whose input is NaN (no posts, nothing due, no replies) is left out and the
    weights of the others renormalised; with no term at all the score is NaN.
    """
    terms = (
        (ROBOT_WEIGHT_BROADCAST, broadcast_share),
        (ROBOT_WEIGHT_UNANSWERED, 1.0 - answered_share),
        (ROBOT_WEIGHT_TEMPLATED, templated_share),
    )
    present = [(w, v) for w, v in terms if not math.isnan(v)]
    weight = sum(w for w, _ in present)
    if not weight:
        return math.nan
    return min(1.0, max(0.0, sum(w * v for w, v in present) / weight))


@dataclass(frozen=True, slots=True)
class ConversationSnapshot:
    """Rolling ratios of one brand at one instant, per window label."""

    broadcast_ratio: dict[Window, float]
    reply_rate: dict[Window, float]
    robot_score: float


def conversation_snapshot(
    buckets: dict[int, HourCounts], now: float, templated_share: float = math.nan,
    windows: Iterable[tuple[Window, int]] = WINDOWS.items(),
) -> ConversationSnapshot:
    """Ratios over each window ending at `now`; the robot score uses the longest window."""
    current = hour_of(now)
    ratios: dict[Window, float] = {}
    rates: dict[Window, float] = {}
    longest: HourCounts | None = None
    longest_hours = 0
    for label, hours in windows:
        total = window_total(buckets, current, hours)
        ratios[label] = broadcast_ratio(total)
        rates[label] = reply_rate(total)
        if hours > longest_hours:
            longest, longest_hours = total, hours
    score = math.nan
    if longest is not None:
        score = robot_score(
            with_evidence(broadcast_ratio(longest), longest.broadcasts + longest.replies),
            with_evidence(reply_rate(longest), longest.answered + longest.overdue),
            templated_share)
    return ConversationSnapshot(ratios, rates, score)
