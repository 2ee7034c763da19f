"""The pre-publish check: would this draft be the psychopath, the robot or the airhead if it
went out at its scheduled time?

Pure: the caller hands in what the worker knows (`CrisisContext`: declared crises and the
global crisis scope, the same on every worker; `BrandState`: the brand's own crisis scope,
reply backlog and audience topics, on the worker that owns the brand) and gets a
`CheckResult`. The tone decision is `tone_verdict`, the function behind the live tone-deaf
detector, so a draft the check lets through is not flagged once published, and vice versa.

Verdicts, from the worst finding:

* ``block`` — tone-deaf during an active crisis (declared, or detected on the brand's or
  the whole audience): a hashtag/keyword hijack, or a promotional or jokey post;
* ``hold`` — a person should look first: promotional or jokey while a crisis is emerging
  (signals rising, not yet active), or a broadcast while customers wait past the SLA (the
  robot);
* ``ok`` — nothing of the above; notes may still say that a crisis is active (the draft
  does not touch it) or that the draft is off the audience's current topics (the airhead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Final

from streams.core.behaviour import GLOBAL, BehaviourSnapshot, detected_crisis
from streams.core.crisis import DeclaredCrisis
from streams.core.crisis_content import NOTHING_LEARNED, CrisisAbout, crisis_vocabulary
from streams.core.crisis_detector import CrisisStatus
from streams.core.promo import ToneVerdict, tone_verdict
from streams.core.sla_records import Backlog
from streams.core.text import prepare
from streams.core.topics import profile_terms

__all__ = [
    "BrandState",
    "CheckReason",
    "CheckResult",
    "CrisisContext",
    "Draft",
    "Finding",
    "ScopeState",
    "Verdict",
    "brand_state",
    "check",
    "check_at_wall",
    "scope_state",
]

#: Audience terms a broadcast is compared with for the airhead note, and the audience
#: volume (term occurrences) below which there is too little to compare with.
AIRHEAD_TOP_TERMS: Final = 30
AIRHEAD_MIN_AUDIENCE: Final = 50
TOP_TERMS_SHOWN: Final = 10
#: A broadcast is held when at least this many customers wait and one waits past the SLA;
#: fewer is a note (a big brand nearly always has someone waiting somewhere).
ROBOT_MIN_UNANSWERED: Final = 5


class Verdict(StrEnum):
    OK = "ok"
    HOLD = "hold"
    BLOCK = "block"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Final = {Verdict.OK: 0, Verdict.HOLD: 1, Verdict.BLOCK: 2}


class CheckReason(StrEnum):
    """What a finding is about (bounded: fit for a metric label)."""

    HASHTAG_HIJACK = "hashtag_hijack"  # the three ToneDeafReason values
    PROMOTIONAL_IN_CRISIS = "promotional_in_crisis"
    JOKEY_IN_CRISIS = "jokey_in_crisis"
    EMERGING_CRISIS = "emerging_crisis"
    ROBOT_BACKLOG = "robot_backlog"
    CRISIS_ACTIVE = "crisis_active"  # note: a crisis is on, the draft does not touch it
    AIRHEAD = "airhead"
    NO_BRAND_STATE = "no_brand_state"


_CRISIS_NOTES: Final = frozenset({CheckReason.CRISIS_ACTIVE, CheckReason.EMERGING_CRISIS})


@dataclass(frozen=True, slots=True)
class Draft:
    """A post about to be published (`at`: its scheduled time, None: now)."""

    brand: str
    text: str
    platform: str | None = None
    at: float | None = None
    in_reply_to: str | None = None
    hashtags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScopeState:
    """The audience crisis detector of one scope (a brand or GLOBAL), as the check reads it.
    `terms`: crisis vocabulary among the scope's top audience terms (what it is about)."""

    scope: str
    active: bool = False
    emerging: bool = False
    since: float | None = None
    terms: tuple[str, ...] = ()
    about: CrisisAbout = NOTHING_LEARNED  # learned from the scope's crisis messages

    def crisis(self, state: str) -> DeclaredCrisis:
        """The detected crisis as the live detector builds it (`detected_crisis`); with
        nothing learned yet, the crisis vocabulary among the top terms stands for it."""
        about = self.about or CrisisAbout(hazards=self.terms)
        return detected_crisis(self.scope, state, about, self.since)


@dataclass(frozen=True, slots=True)
class CrisisContext:
    """What every worker knows: declared crises (the control topic) and the global scope."""

    declared: tuple[DeclaredCrisis, ...] = ()
    global_scope: ScopeState = ScopeState(GLOBAL)
    now: float = -math.inf  # the global scope's event time


@dataclass(frozen=True, slots=True)
class BrandState:
    """What the worker owning the brand knows of it, frozen at one instant (`now`)."""

    brand: str
    now: float
    crisis: ScopeState
    backlog: tuple[tuple[str, Backlog], ...]  # per platform
    sla_seconds: float
    top_audience_terms: tuple[tuple[str, int], ...]
    topic_alignment: float


@dataclass(frozen=True, slots=True)
class Finding:
    reason: CheckReason
    verdict: Verdict
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckResult:
    draft: Draft
    verdict: Verdict
    findings: tuple[Finding, ...]
    crises: tuple[dict[str, Any], ...]
    tone: ToneVerdict
    now: float
    at: float
    top_audience_terms: tuple[tuple[str, int], ...]
    complete: bool  # False: the brand's own state was not available here

    @property
    def summary(self) -> str:
        worst = [f.message for f in self.findings if f.verdict is self.verdict]
        if self.verdict is Verdict.OK:
            crises = [f.message for f in self.findings if f.reason in _CRISIS_NOTES]
            if crises:
                return "ok: " + "; ".join(crises)
            return "ok: nothing in the draft clashes with what the audience is living through"
        return f"{self.verdict.value}: " + "; ".join(worst)


# -- building the inputs (called by the engine's owner, on its own loop) ---------------------

def scope_state(scope: str, status: CrisisStatus, top_terms: Sequence[tuple[str, int]] = (),
                about: CrisisAbout = NOTHING_LEARNED) -> ScopeState:
    """Read a detector's status: active, or emerging (`CrisisStatus.emerging`)."""
    emerging = status.emerging
    terms: tuple[str, ...] = ()
    if status.active or emerging:
        terms = crisis_vocabulary(top_terms)
    return ScopeState(scope, status.active, emerging, status.since, terms,
                      about if status.active or emerging else NOTHING_LEARNED)


def brand_state(brand: str, now: float, status: CrisisStatus, behaviour: BehaviourSnapshot,
                backlog: Mapping[str, Backlog], sla_seconds: float) -> BrandState:
    """Freeze what the check needs of one brand (from its snapshot and crisis status)."""
    top = tuple(behaviour.top_audience_terms)
    return BrandState(brand, now, scope_state(brand, status, top, behaviour.crisis_about),
                      tuple(sorted(backlog.items())), sla_seconds, top,
                      behaviour.topic_alignment)


# -- the check -------------------------------------------------------------------------------

def _crisis_json(crisis: DeclaredCrisis, kind: str, state: str, scope: str,
                 keywords: Sequence[str], hit: str | None, since: float | None) -> dict[str, Any]:
    return {"name": crisis.name, "title": crisis.title or crisis.name, "kind": kind,
            "state": state, "scope": scope, "keywords": list(keywords),
            "hashtags": ["#" + h.lstrip("#") for h in crisis.hashtags],
            "region": crisis.region, "since": since, "end": crisis.end,
            "touched": hit is not None, "match": hit}


def check(draft: Draft, context: CrisisContext, state: BrandState | None) -> CheckResult:
    """The verdict on `draft` against the crises that apply at its time and the brand's
    state (None: not on this worker; only declared and global crises are then checked)."""
    now = state.now if state is not None else context.now
    at = draft.at if draft.at is not None else now
    doc = prepare(draft.text)
    # Brand scope before global, as BehaviourBook.active_crises: the same crisis is named.
    scopes = ([state.crisis] if state is not None else []) + [context.global_scope]
    declared = [c for c in context.declared if c.is_active(at)]
    detected = [(s, s.crisis("detected")) for s in scopes if s.active]
    emerging = [(s, s.crisis("emerging")) for s in scopes if s.emerging]
    active = declared + [c for _, c in detected]
    tone = tone_verdict(doc, active, at, draft.hashtags, words=True, post="draft")
    findings: list[Finding] = []
    crises: list[dict[str, Any]] = []
    for c in declared:
        hit = c.matched_by(doc, draft.hashtags)
        if hit is None and tone.crisis is not None and tone.crisis.name == c.name:
            hit = tone.hit
        crises.append(_crisis_json(c, "declared", "active", c.region or GLOBAL, c.keywords,
                                   hit, c.start))
    for kind_state, pairs in (("active", detected), ("emerging", emerging)):
        for scope, c in pairs:
            hit = c.matched_by(doc, draft.hashtags) or c.place_hit(doc)
            if hit is None and tone.crisis is not None and tone.crisis.name == c.name:
                hit = tone.hit
            crises.append(_crisis_json(c, "detected", kind_state, scope.scope,
                                       c.keywords + c.places, hit, scope.since))
    words = {"promo_words": list(tone.promo_words), "joke_words": list(tone.joke_words)}
    if tone.reason is not None and tone.crisis is not None:
        cue_text = _cue_text(tone)
        findings.append(Finding(CheckReason(tone.reason.value), Verdict.BLOCK,
                                (tone.explanation or "") + cue_text,
                                {"crisis": tone.crisis.name, "match": tone.hit, **words}))
    elif active:
        names = "; ".join(c.shown for c in active)
        findings.append(Finding(CheckReason.CRISIS_ACTIVE, Verdict.OK,
                                f"active {names}: the draft neither sells, jokes nor "
                                "rides it", {"crisis": active[0].name}))
    if emerging and tone.reason is None:
        early = tone_verdict(doc, [c for _, c in emerging], None, draft.hashtags,
                             post="draft")
        if early.reason is not None and early.crisis is not None:
            findings.append(Finding(
                CheckReason.EMERGING_CRISIS, Verdict.HOLD,
                f"{early.explanation} (emerging: signals rising, not yet active)"
                + _cue_text(early), {"crisis": early.crisis.name, "match": early.hit,
                                     "promo_words": list(early.promo_words),
                                     "joke_words": list(early.joke_words)}))
        else:
            findings.append(Finding(
                CheckReason.EMERGING_CRISIS, Verdict.OK,
                "; ".join(c.shown for _, c in emerging) + " (signals rising, not yet "
                "active): the draft neither sells, jokes nor rides it",
                {"crisis": emerging[0][1].name}))
    top: tuple[tuple[str, int], ...] = ()
    if state is None:
        findings.append(Finding(CheckReason.NO_BRAND_STATE, Verdict.OK,
                                f"no recent data for brand {draft.brand!r} on this worker: "
                                "its own crisis scope, backlog and audience topics were not "
                                "checked"))
    else:
        top = state.top_audience_terms
        if draft.in_reply_to is None:
            findings.extend(_robot(draft, state))
            findings.extend(_airhead(doc, state))
    findings.sort(key=lambda f: -f.verdict.rank)
    verdict = max((f.verdict for f in findings), key=lambda v: v.rank, default=Verdict.OK)
    return CheckResult(draft, verdict, tuple(findings), tuple(crises), tone, now, at,
                       top[:TOP_TERMS_SHOWN], state is not None)


def check_at_wall(draft: Draft, context: CrisisContext, states: Mapping[str, BrandState],
                  wall: float) -> CheckResult:
    """The check as asked at wall-clock `wall` (POST /api/check, `brandpulse check`): a
    draft without a time goes out now, the wall clock rather than the stream's last event,
    and a context that has seen no event yet reads the wall clock as its event time."""
    if not math.isfinite(context.now):
        context = replace(context, now=wall)
    if draft.at is None:
        draft = replace(draft, at=wall)
    return check(draft, context, states.get(draft.brand))


def _cue_text(tone: ToneVerdict) -> str:
    words = [*tone.promo_words, *tone.joke_words]
    return f" (triggered by: {', '.join(repr(w) for w in words)})" if words else ""


def _robot(draft: Draft, state: BrandState) -> list[Finding]:
    """A broadcast while customers wait past the SLA target: answer them first."""
    waiting = [(p, b) for p, b in state.backlog
               if b.unanswered and (draft.platform is None or p == draft.platform)]
    late = [(p, b) for p, b in waiting if b.oldest_age_seconds > state.sla_seconds]
    if not late:
        return []
    count = sum(b.unanswered for _, b in waiting)
    oldest = max(b.oldest_age_seconds for _, b in late)
    where = ", ".join(p for p, _ in late)
    verdict = Verdict.HOLD if count >= ROBOT_MIN_UNANSWERED else Verdict.OK
    return [Finding(CheckReason.ROBOT_BACKLOG, verdict,
                    f"{count} customer{'s' if count > 1 else ''} wait for an answer ({where}), "
                    f"the oldest for {_duration(oldest)} (SLA {_duration(state.sla_seconds)}): "
                    "answer them before broadcasting",
                    {"unanswered": count, "oldest_age_seconds": round(oldest, 3),
                     "sla_seconds": state.sla_seconds})]


def _airhead(doc: Any, state: BrandState) -> list[Finding]:
    """A note when the draft shares no term with what the audience talks about now."""
    top = state.top_audience_terms[:AIRHEAD_TOP_TERMS]
    if sum(c for _, c in top) < AIRHEAD_MIN_AUDIENCE:
        return []
    terms = set(profile_terms(doc))
    if terms & {t for t, _ in top}:
        return []
    shown = [t for t, _ in top[:TOP_TERMS_SHOWN]]
    return [Finding(CheckReason.AIRHEAD, Verdict.OK,
                    "off the audience's current topics: the draft shares no term with what "
                    f"the audience talks about ({', '.join(shown)})",
                    {"top_audience_terms": shown,
                     "topic_alignment": None if math.isnan(state.topic_alignment)
                     else round(state.topic_alignment, 4)})]


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} days {hours % 24} h"
