"""The offline report: the same engine as the workers, fed from a file, no broker.

It aggregates exactly the observations the workers turn into metrics, so a report and a
dashboard over the same input agree.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.config import BrandsConfig
from streams.core.behaviour import LanguageCounted, TemplatedReply, ToneDeafPost
from streams.core.conversation import robot_score, with_evidence
from streams.core.sla import FirstResponse, MessageCounted, PostCounted, SlaBreached
from streams.engine import Engine
from streams.events import Rejection, SocialEvent


def quantile(sorted_values: list[float], q: float) -> float | None:
    """Linear-interpolated quantile (numpy's default); None for no values."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(slots=True)
class BrandTally:
    messages: int = 0
    requires_reply: int = 0
    answered: int = 0
    breaches: int = 0
    broadcasts: int = 0
    replies: int = 0
    first_response_seconds: list[float] = field(default_factory=list)
    templated_replies: int = 0
    tone_deaf: list[dict[str, Any]] = field(default_factory=list)
    languages: dict[str, int] = field(default_factory=dict)


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def build_report(events: Iterable[SocialEvent], brands: BrandsConfig,
                 wall: float | None = None) -> dict[str, Any]:
    """Run the engine over `events` (delivery order) and summarise each brand.

    `wall` (default: now) bounds event time: records dated beyond it plus the skew are
    counted under "rejected" (`future_timestamp`) and never reach a clock.

    Counts and first-response times are the observations the workers export; ratios are
    over the whole input (a report covers a period, not a rolling window).
    """
    engine = Engine(brands)
    tallies: dict[str, BrandTally] = {b.name: BrandTally() for b in brands}
    rejected: dict[str, int] = {}
    for observation in engine.ingest_all(events, time.time() if wall is None else wall):
        if isinstance(observation, Rejection):
            reason = observation.reason.value
            rejected[reason] = rejected.get(reason, 0) + 1
            continue
        tally = tallies[observation.brand]
        if isinstance(observation, MessageCounted):
            tally.messages += 1
            tally.requires_reply += observation.requires_reply
        elif isinstance(observation, PostCounted):
            if observation.kind == "broadcast":
                tally.broadcasts += 1
            else:
                tally.replies += 1
        elif isinstance(observation, FirstResponse):
            tally.answered += 1
            tally.first_response_seconds.append(observation.seconds)
        elif isinstance(observation, SlaBreached):
            tally.breaches += 1
        elif isinstance(observation, TemplatedReply):
            tally.templated_replies += 1
        elif isinstance(observation, LanguageCounted):
            tally.languages[observation.lang] = tally.languages.get(observation.lang, 0) + 1
        elif isinstance(observation, ToneDeafPost):
            tally.tone_deaf.append({"post_id": observation.post_id,
                                    "reason": observation.reason,
                                    "crisis": observation.crisis,
                                    "explanation": observation.explanation})
    end = engine.stream_time
    result: dict[str, Any] = {}
    for name, tally in sorted(tallies.items()):
        if not (tally.messages or tally.broadcasts or tally.replies):
            continue
        times = sorted(tally.first_response_seconds)
        snapshot = (engine.snapshot(name, engine.brand_now(name, end))
                    if engine.has_brand(name) else None)
        backlog = snapshot.backlog if snapshot is not None else {}
        posts = tally.broadcasts + tally.replies
        share_broadcast = tally.broadcasts / posts if posts else math.nan
        share_answered = (tally.answered / tally.requires_reply if tally.requires_reply
                          else math.nan)
        share_templated = tally.templated_replies / tally.replies if tally.replies else math.nan
        behaviour = snapshot.behaviour if snapshot is not None else None
        result[name] = {
            "messages": tally.messages,
            "requires_reply": tally.requires_reply,
            "answered": tally.answered,
            "unanswered": sum(b.unanswered for b in backlog.values()),
            "sla_breaches": tally.breaches,
            "first_response_seconds": {"p50": quantile(times, 0.5), "p90": quantile(times, 0.9)},
            "posts": {"broadcast": tally.broadcasts, "reply": tally.replies},
            "broadcast_ratio": _nan_to_none(share_broadcast),
            "reply_rate": _nan_to_none(share_answered),
            # Over the whole input, not a rolling window: a report covers a period.
            "templated_reply_ratio": _nan_to_none(share_templated),
            "robot_score": _nan_to_none(robot_score(
                with_evidence(share_broadcast, posts),
                with_evidence(share_answered, tally.requires_reply),
                with_evidence(share_templated, tally.replies))),
            "tone_deaf_posts": tally.tone_deaf,
            "languages": tally.languages,
            "topic_alignment": (_nan_to_none(behaviour.topic_alignment)
                                if behaviour is not None else None),
            "top_audience_terms": ([term for term, _ in behaviour.top_audience_terms]
                                   if behaviour is not None else []),
        }
    return {"brands": result, "rejected": rejected}


def format_table(report: dict[str, Any]) -> str:
    """A fixed-width per-brand table for humans."""
    header = (f"{'brand':<20} {'msgs':>6} {'need':>6} {'answd':>6} {'breach':>6} "
              f"{'p50 min':>8} {'p90 min':>8} {'bcast':>6} {'reply':>6} {'rate':>5} {'robot':>5}")
    lines = [header, "-" * len(header)]

    def minutes(value: float | None) -> str:
        return "-" if value is None else f"{value / 60:.1f}"

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for name, row in report["brands"].items():
        fr = row["first_response_seconds"]
        lines.append(
            f"{name[:20]:<20} {row['messages']:>6} {row['requires_reply']:>6} "
            f"{row['answered']:>6} {row['sla_breaches']:>6} {minutes(fr['p50']):>8} "
            f"{minutes(fr['p90']):>8} {row['posts']['broadcast']:>6} {row['posts']['reply']:>6} "
            f"{ratio(row['reply_rate']):>5} {ratio(row['robot_score']):>5}")
    return "\n".join(lines)
