"""The worker's JSON API (/api/brands, /api/brands/NAME, /api/crisis, POST /api/check):
views of snapshots.

The views are built on the event loop from frozen snapshots and replaced whole, so the
HTTP thread that serves them never reads the engine and never sees a half-updated dict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from streams.core.behaviour import BehaviourSnapshot, detected_crisis
from streams.core.brand import BrandsConfig
from streams.core.check import BrandState, CrisisContext, check_at_wall
from streams.core.crisis_content import shown_about
from streams.engine import BrandSnapshot, GlobalCrisis
from streams.wire import (
    CheckError,
    format_rfc3339,
    json_number,
    parse_draft,
    result_to_json,
)


def event_time_text(at: float) -> str | None:
    """The brand's event time as RFC 3339 (UTC, milliseconds), as the check and the input
    events write times; None before the brand has seen an event."""
    return format_rfc3339(at) if math.isfinite(at) else None


def check_answer(body: Any, brands: BrandsConfig, context: CrisisContext,
                 states: Mapping[str, BrandState], wall: float) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON) of one check request: the request decoded (streams/wire/check.py),
    judged (streams/core/check.py), the answer encoded. What POST /api/check returns, and
    `brandpulse check` offline."""
    draft = parse_draft(body, brands, wall)
    if isinstance(draft, CheckError):
        return draft.status, {"error": draft.message}
    return 200, result_to_json(check_at_wall(draft, context, states, wall))


def brand_view(snapshot: BrandSnapshot) -> dict[str, Any]:
    """JSON-ready view of a brand snapshot; `event_time` in RFC 3339."""
    behaviour = snapshot.behaviour
    conversation = snapshot.conversation
    return {
        "brand": snapshot.brand,
        "event_time": event_time_text(snapshot.now),
        "backlog": {p: {"unanswered": b.unanswered, "oldest_age_seconds": b.oldest_age_seconds,
                        "at_risk": b.at_risk} for p, b in snapshot.backlog.items()},
        "robot_score": json_number(conversation.robot_score),
        "broadcast_ratio": {w.value: json_number(v)
                            for w, v in conversation.broadcast_ratio.items()},
        "reply_rate": {w.value: json_number(v) for w, v in conversation.reply_rate.items()},
        "crisis_active": behaviour.crisis_active,
        "crisis": crisis_about_view(snapshot.brand, behaviour),
        "audience_sentiment": {c.value: json_number(v) for c, v in behaviour.sentiment.items()},
        "templated_reply_ratio": json_number(behaviour.templated_reply_ratio),
        "topic_alignment": json_number(behaviour.topic_alignment),
        "audience_replies_per_broadcast": json_number(behaviour.audience_replies_per_broadcast),
        "top_audience_terms": [[term, count] for term, count in behaviour.top_audience_terms],
        "scheduled": {"queued": snapshot.scheduled.queued,
                      "tone_deaf": snapshot.scheduled.tone_deaf,
                      "crisis": snapshot.scheduled.crisis,
                      "post_ids": list(snapshot.scheduled.post_ids)},
        "agents": {a: {"replies": s.replies, "first_responses": s.first_responses,
                       "first_response_seconds": {"p50": s.first_response_p50,
                                                  "p90": s.first_response_p90},
                       "sla_met_share": s.sla_met_share} for a, s in snapshot.agents.items()},
    }


def crisis_about_view(brand: str, behaviour: BehaviourSnapshot) -> dict[str, Any]:
    """The brand's own audience crisis and what it is about (its learned terms, shown as
    the check and the alerts show them); state null and no terms when there is none."""
    state = behaviour.crisis_state
    if not state:
        return {"state": None, "since": None, "title": None, "terms": [], "hashtags": [],
                "hazards": [], "places": []}
    about = shown_about(behaviour.crisis_about, behaviour.top_audience_terms)
    crisis = detected_crisis(brand, "detected" if state == "active" else state, about,
                             behaviour.crisis_since)
    return {"state": state, "since": behaviour.crisis_since, "title": crisis.title,
            "terms": about.shown(), "hashtags": ["#" + t for t in about.hashtags],
            "hazards": list(about.hazards), "places": list(about.places)}


def crisis_view(crisis: GlobalCrisis) -> dict[str, Any]:
    """JSON-ready view of the global crisis scope."""
    status = crisis.detected
    return {
        "global": {
            "active": status.active, "since": status.since, "signals": status.signals,
            "volume_last_hour": status.volume,
            "vocabulary_rate": round(status.vocabulary_rate, 6),
            "spike": status.spike, "baseline_hourly_mean": round(status.baseline_mean, 6),
            "sentiment_dip": status.sentiment_dip,
            "sentiment_mean": round(status.sentiment_mean, 6),
            "baseline_sentiment": round(status.baseline_sentiment, 6),
            "sources": crisis.sources,
        },
        "declared": [{"name": c.name, "start": c.start, "end": c.end} for c in crisis.declared],
    }


class ApiViews:
    """What GET /api/... serves; written on the event loop, read by the HTTP thread."""

    def __init__(self) -> None:
        self.brands: dict[str, dict[str, Any]] = {}
        self.crisis: dict[str, Any] = {}
        # What POST /api/check reads: frozen values, replaced whole like the views.
        self.check_context = CrisisContext()
        self.brand_states: dict[str, BrandState] = {}

    def update(self, snapshots: Iterable[BrandSnapshot]) -> None:
        views = {snapshot.brand: brand_view(snapshot) for snapshot in snapshots}
        if views:  # replaced whole: the HTTP thread may be iterating the old one
            self.brands = {**self.brands, **views}

    def forget(self, brands: set[str]) -> None:
        self.brands = {b: v for b, v in self.brands.items() if b not in brands}
        self.brand_states = {b: v for b, v in self.brand_states.items() if b not in brands}

    def set_check(self, states: Iterable[BrandState], context: CrisisContext) -> None:
        fresh = {state.brand: state for state in states}
        if fresh:
            self.brand_states = {**self.brand_states, **fresh}
        self.check_context = context

    def check(self, body: Any, brands: BrandsConfig, wall: float) -> tuple[int, dict[str, Any]]:
        """POST /api/check (streams/core/check.py), from the frozen states: the HTTP
        thread never reads the engine."""
        return check_answer(body, brands, self.check_context, self.brand_states, wall)

    def set_crisis(self, crisis: GlobalCrisis) -> None:
        self.crisis = crisis_view(crisis)

    def get(self, path: str) -> dict[str, Any] | None:
        """/api/brands (names, and the brands' own active or emerging crises with their
        terms: one request lists them all), /api/brands/NAME, /api/crisis; None: not
        found."""
        views = self.brands
        path = path.rstrip("/")
        if path == "/api/brands":
            names = sorted(views)
            return {"brands": names,
                    "crises": [{"brand": b, **views[b]["crisis"]} for b in names
                               if views[b].get("crisis", {}).get("state")]}
        if path == "/api/crisis":
            return self.crisis
        prefix = "/api/brands/"
        if path.startswith(prefix):
            return views.get(path[len(prefix):])
        return None
