"""The pre-publish check's codec: the request's JSON to a `Draft`, a `CheckResult` to the
answer's JSON (POST /api/check, docs/check.md). The decision is `streams.core.check`'s."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from streams.core.brand import BrandsConfig
from streams.core.check import CheckResult, Draft
from streams.core.text import clean
from streams.events import MAX_ID_LENGTH, MAX_SCHEDULE_AHEAD_SECONDS
from streams.wire.events import format_rfc3339, parse_rfc3339

MAX_DRAFT_CHARS: Final = 10_000
MAX_HASHTAGS: Final = 100


def _time(at: float | None) -> str | None:
    return format_rfc3339(at) if at is not None and math.isfinite(at) else None


def result_to_json(result: CheckResult) -> dict[str, Any]:
    """The answer of POST /api/check (times as RFC 3339)."""
    tone = result.tone
    return {
        "verdict": result.verdict.value,
        "summary": result.summary,
        "brand": result.draft.brand,
        "platform": result.draft.platform,
        "at": _time(result.at),
        "event_time": _time(result.now),
        "reasons": [{"reason": f.reason.value, "verdict": f.verdict.value,
                     "message": f.message, **f.details} for f in result.findings],
        "crises": [{**c, "since": _time(c["since"]), "end": _time(c["end"])}
                   for c in result.crises],
        "cues": {"promotional": tone.promotional, "jokey": tone.jokey,
                 "supportive": tone.supportive, "promo_words": list(tone.promo_words),
                 "joke_words": list(tone.joke_words)},
        "top_audience_terms": [[t, c] for t, c in result.top_audience_terms],
        "complete": result.complete,
    }


@dataclass(frozen=True, slots=True)
class CheckError:
    status: int  # 400 bad request, 404 unknown brand
    message: str


_FIELDS: Final = frozenset({"brand", "text", "platform", "at", "in_reply_to", "hashtags"})


def parse_draft(body: Any, brands: BrandsConfig, wall: float) -> Draft | CheckError:
    """Validate a check request's JSON: brand and text required; platform, at (RFC 3339,
    at most MAX_SCHEDULE_AHEAD_SECONDS ahead of `wall`), in_reply_to, hashtags optional."""
    if type(body) is not dict:
        return CheckError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return CheckError(400, f"unknown field {unknown[0][:40]!r}; fields: "
                          + ", ".join(sorted(_FIELDS)))
    brand, text = body.get("brand"), body.get("text")
    if type(brand) is not str or not brand:
        return CheckError(400, "field 'brand' is required (a string)")
    if type(text) is not str:
        return CheckError(400, "field 'text' is required (a string)")
    if not clean(text).strip():
        return CheckError(400, "field 'text' is empty: there is no draft to check")
    if len(text) > MAX_DRAFT_CHARS:
        return CheckError(400, f"field 'text' is longer than {MAX_DRAFT_CHARS} characters")
    config = brands.get(brand)
    if config is None:
        return CheckError(404, f"brand {brand[:MAX_ID_LENGTH]!r} is not in the brands file")
    platform = body.get("platform")
    if platform is not None and (type(platform) is not str or platform not in config.handles):
        return CheckError(400, "field 'platform' must be one of the brand's platforms: "
                          + ", ".join(sorted(config.handles)))
    at = body.get("at")
    when: float | None = None
    if at is not None:
        if type(at) is not str:
            return CheckError(400, "field 'at' must be an RFC 3339 time, e.g. "
                              "2026-11-25T18:00:00Z")
        try:
            when = parse_rfc3339(at)
        except ValueError:
            return CheckError(400, f"field 'at' must be an RFC 3339 time with a UTC offset, "
                              f"e.g. 2026-11-25T18:00:00Z (got {at[:40]!r})")
        if when > wall + MAX_SCHEDULE_AHEAD_SECONDS:
            return CheckError(400, f"field 'at' is more than "
                              f"{MAX_SCHEDULE_AHEAD_SECONDS / 86400:.0f} days ahead")
    reply_to = body.get("in_reply_to")
    if reply_to is not None and (type(reply_to) is not str or not 0 < len(reply_to)
                                 <= MAX_ID_LENGTH):
        return CheckError(400, "field 'in_reply_to' must be a post id")
    tags = body.get("hashtags", [])
    if (type(tags) is not list or len(tags) > MAX_HASHTAGS
            or not all(type(t) is str and 0 < len(t) <= 100 for t in tags)):
        return CheckError(400, f"field 'hashtags' must be a list of at most {MAX_HASHTAGS} "
                          "strings")
    return Draft(brand, text, platform, when, reply_to, tuple(tags))
