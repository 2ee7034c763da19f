"""The offline report: the same engine as the workers, fed from a file, no broker.

It aggregates exactly the observations the workers turn into metrics, so a report and a
dashboard over the same input agree. It streams: events are consumed one at a time and
every per-brand aggregate is bounded (counts, a quantile sketch, the last tone-deaf
examples), so memory follows brands and open messages, not the length of the file.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from streams.config import BrandConfig, BrandsConfig
from streams.core.agent_stats import quantile
from streams.core.behaviour import LanguageCounted, TemplatedReply, ToneDeafPost
from streams.core.conversation import robot_score, with_evidence
from streams.core.policy import DEFAULT_POLICY
from streams.core.sla_observations import (
    ConversationReopened,
    ConversationResolved,
    DuplicateEvent,
    ExpiredUnanswered,
    FirstResponse,
    LateEvent,
    LateReply,
    MessageCounted,
    NextResponse,
    PostCounted,
    PostKind,
    SlaBreached,
)
from streams.engine import Engine, dispatch
from streams.events import RecordedEvent, Rejection
from streams.wire import json_number

QUANTILE_RELATIVE_ERROR = 0.01
EXACT_QUANTILE_VALUES = 512  # per brand: below this many answers quantiles are exact
TONE_DEAF_EXAMPLES = 50  # per brand: the report keeps the count and the last N flags


__all__ = ["QuantileSketch", "build_report", "quantile"]  # quantile: from the core


class QuantileSketch:
    """Quantiles of non-negative values in bounded memory, within a stated relative error.

    The first `exact_limit` values are kept as they are, so small samples give exact
    quantiles. Past that they move into log-spaced buckets (the DDSketch mapping): bucket
    i holds (γ^(i-1), γ^i] with γ = (1+α)/(1-α), and its representative 2γ^i/(γ+1) is
    within α of every value in it. A quantile interpolates linearly between the two order
    statistics numpy's default method uses, each read within α, so it is within α
    (relative) of the exact interpolated quantile. Values ≤ `min_value` (zero; the engine
    never emits negative response times) are counted exactly as 0. Memory: at most
    `exact_limit` floats, then one counter per occupied bucket (≈ 660 for 1 s to 7 days
    at α = 1 %), whatever the number of values.
    """

    __slots__ = ("_buckets", "_exact", "_exact_limit", "_gamma_log", "_zeros", "count",
                 "min_value", "relative_error")

    def __init__(self, relative_error: float = QUANTILE_RELATIVE_ERROR,
                 exact_limit: int = EXACT_QUANTILE_VALUES, min_value: float = 1e-6) -> None:
        if not 0.0 < relative_error < 1.0:
            raise ValueError(f"relative_error must be in (0, 1), got {relative_error!r}")
        self.relative_error = relative_error
        self.min_value = min_value
        self.count = 0
        self._gamma_log = math.log((1 + relative_error) / (1 - relative_error))
        self._exact_limit = exact_limit
        self._exact: array[float] | None = array("d")
        self._buckets: dict[int, int] = {}
        self._zeros = 0

    def add(self, value: float) -> None:
        self.count += 1
        exact = self._exact
        if exact is not None:
            exact.append(value)
            if len(exact) > self._exact_limit:
                self._exact = None
                for kept in exact:
                    self._bucket(kept)
            return
        self._bucket(value)

    def _bucket(self, value: float) -> None:
        if value <= self.min_value:
            self._zeros += 1
            return
        index = math.ceil(math.log(value) / self._gamma_log)
        self._buckets[index] = self._buckets.get(index, 0) + 1

    def _value(self, index: int) -> float:
        gamma = math.exp(self._gamma_log)
        return 2.0 * math.exp(index * self._gamma_log) / (gamma + 1.0)

    def quantile(self, q: float) -> float | None:
        """The q-quantile, linearly interpolated; None when no value was added."""
        if self._exact is not None:
            return quantile(sorted(self._exact), q)
        if not self.count:
            return None
        position = (self.count - 1) * q
        low = math.floor(position)
        high = min(low + 1, self.count - 1)
        low_value = high_value = 0.0
        seen = self._zeros
        found_low = low < seen
        if not (found_low and high < seen):
            for index in sorted(self._buckets):
                seen += self._buckets[index]
                if not found_low and low < seen:
                    low_value, found_low = self._value(index), True
                if high < seen:
                    high_value = self._value(index)
                    break
        return low_value + (high_value - low_value) * (position - low)

    def __len__(self) -> int:
        return self.count


@dataclass(slots=True)
class BrandTally:
    messages: int = 0
    requires_reply: int = 0
    answered: int = 0
    expired_unanswered: int = 0
    late_replies: int = 0
    breaches: int = 0
    broadcasts: int = 0
    replies: int = 0
    first_response_seconds: QuantileSketch = field(default_factory=QuantileSketch)
    first_response_business_seconds: QuantileSketch = field(default_factory=QuantileSketch)
    templated_replies: int = 0
    tone_deaf_count: int = 0
    tone_deaf: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=TONE_DEAF_EXAMPLES))
    languages: dict[str, int] = field(default_factory=dict)
    negative: int = 0  # analysed audience messages reading negative
    sentiment_sum: float = 0.0  # over messages in a language we read (en, fr)
    sentiment_n: int = 0
    next_response_seconds: QuantileSketch = field(default_factory=QuantileSketch)
    policies: dict[str, ResponseTally] = field(default_factory=dict)
    agents: dict[str, ResponseTally] = field(default_factory=dict)
    resolved: int = 0  # inbox conversations (a recording of `brandpulse ingest chatwoot`)
    reopened: int = 0
    resolution_seconds: QuantileSketch = field(default_factory=QuantileSketch)


@dataclass(slots=True)
class ResponseTally:
    """First responses of one SLA policy or one agent."""

    replies: int = 0  # agents: brand replies they signed
    answered: int = 0
    sla_met: int = 0
    sla_breaches: int = 0  # policies: messages whose target passed (answered late or not)
    first_response_seconds: QuantileSketch = field(default_factory=QuantileSketch)

    def first_response(self, o: FirstResponse) -> None:
        self.answered += 1
        self.sla_met += o.within_sla
        self.first_response_seconds.add(o.seconds)

    def quantiles(self) -> dict[str, float | None]:
        times = self.first_response_seconds
        return {"p50": times.quantile(0.5), "p90": times.quantile(0.9)}


def _policies_section(tally: BrandTally, config: BrandConfig | None) -> dict[str, Any]:
    """Every policy of the brand, in precedence order, then "default"."""
    targets = {} if config is None else {p.name: p.sla_seconds for p in config.policies}
    if config is not None:
        targets[DEFAULT_POLICY] = config.sla_seconds
    section = {}
    for name in [*targets, *sorted(set(tally.policies) - set(targets))]:
        t = tally.policies.get(name) or ResponseTally()
        decided = t.sla_met + t.sla_breaches
        section[name] = {"sla_seconds": targets.get(name), "answered": t.answered,
                         "sla_met": t.sla_met, "sla_breaches": t.sla_breaches,
                         "sla_met_share": round(t.sla_met / decided, 6) if decided else None,
                         "first_response_seconds": t.quantiles()}
    return section


def _agents_section(tally: BrandTally, config: BrandConfig | None) -> dict[str, Any]:
    """Every agent who signed a reply (listed in the brands file or not), by initials."""
    listed = frozenset() if config is None else config.agents
    return {name: {"listed": name in listed, "replies": t.replies,
                   "first_responses": t.answered, "first_response_seconds": t.quantiles(),
                   "sla_met_share": round(t.sla_met / t.answered, 6) if t.answered else None}
            for name, t in sorted(tally.agents.items())}


class _Tallies:
    """Adds each observation to its brand's tally (an `ObservationSink`)."""

    def __init__(self, tallies: dict[str, BrandTally]) -> None:
        self.tallies = tallies

    def on_message_counted(self, o: MessageCounted, n: int) -> None:
        tally = self.tallies[o.brand]
        tally.messages += n
        tally.requires_reply += n * o.requires_reply

    def on_post_counted(self, o: PostCounted, n: int) -> None:
        tally = self.tallies[o.brand]
        if o.kind is PostKind.BROADCAST:
            tally.broadcasts += n
            return
        tally.replies += n
        if o.agent is not None:
            tally.agents.setdefault(o.agent, ResponseTally()).replies += n

    def on_first_response(self, o: FirstResponse, n: int) -> None:
        tally = self.tallies[o.brand]
        for _ in range(n):
            tally.answered += 1
            tally.first_response_seconds.add(o.seconds)
            if o.business_seconds is not None:
                tally.first_response_business_seconds.add(o.business_seconds)
            tally.policies.setdefault(o.policy, ResponseTally()).first_response(o)
            if o.agent is not None:
                tally.agents.setdefault(o.agent, ResponseTally()).first_response(o)

    def on_next_response(self, o: NextResponse, n: int) -> None:
        for _ in range(n):
            self.tallies[o.brand].next_response_seconds.add(o.seconds)

    def on_sla_breached(self, o: SlaBreached, n: int) -> None:
        tally = self.tallies[o.brand]
        tally.breaches += n
        tally.policies.setdefault(o.policy, ResponseTally()).sla_breaches += n

    def on_expired_unanswered(self, o: ExpiredUnanswered, n: int) -> None:
        self.tallies[o.brand].expired_unanswered += n

    def on_late_reply(self, o: LateReply, n: int) -> None:
        self.tallies[o.brand].late_replies += n

    def on_duplicate_event(self, o: DuplicateEvent, n: int) -> None:
        """Not in the report: a file replayed twice is still one period."""

    def on_late_event(self, o: LateEvent, n: int) -> None:
        """Not in the report (counted live as brandpulse_late_events_total)."""

    def on_templated_reply(self, o: TemplatedReply, n: int) -> None:
        self.tallies[o.brand].templated_replies += n

    def on_language_counted(self, o: LanguageCounted, n: int) -> None:
        tally = self.tallies[o.brand]
        tally.languages[o.lang] = tally.languages.get(o.lang, 0) + n
        tally.negative += n * o.negative
        if o.lang != "other":
            tally.sentiment_sum += n * o.sentiment
            tally.sentiment_n += n

    def on_tone_deaf_post(self, o: ToneDeafPost, n: int) -> None:
        tally = self.tallies[o.brand]
        tally.tone_deaf_count += n
        tally.tone_deaf.append({"post_id": o.post_id, "reason": o.reason,
                                "crisis": o.crisis, "explanation": o.explanation})

    def on_conversation_resolved(self, o: ConversationResolved, n: int) -> None:
        tally = self.tallies[o.brand]
        for _ in range(n):
            tally.resolved += 1
            tally.resolution_seconds.add(o.seconds)

    def on_conversation_reopened(self, o: ConversationReopened, n: int) -> None:
        self.tallies[o.brand].reopened += n


def _in_period(events: Iterable[RecordedEvent], since: float | None,
               until: float | None) -> Iterator[RecordedEvent]:
    for event in events:
        if (since is None or event.created_at >= since) and (
                until is None or event.created_at < until):
            yield event


def build_report(events: Iterable[RecordedEvent], brands: BrandsConfig,
                 wall: float | None = None, since: float | None = None,
                 until: float | None = None) -> dict[str, Any]:
    """Run the engine over `events` (delivery order) and summarise each brand.

    `wall` (default: now) bounds event time: records dated beyond it plus the skew are
    counted under "rejected" (`future_timestamp`) and never reach a clock. `since`/`until`
    keep the events created in [since, until) only (a reply to a message before `since`
    is then a reply to an unknown message, as in a live stream started at `since`).

    Counts and first-response times are the observations the workers export; ratios are
    over the whole input (a report covers a period, not a rolling window). Per brand,
    `requires_reply = answered + unanswered + expired_unanswered`.
    """
    engine = Engine(brands, persisted=False)  # nothing is restored offline
    tallies: dict[str, BrandTally] = {b.name: BrandTally() for b in brands}
    sink = _Tallies(tallies)
    rejected: dict[str, int] = {}
    if since is not None or until is not None:
        events = _in_period(events, since, until)
    # One event at a time, never a list: memory follows open messages and brands.
    for observation in engine.ingest_all(events, time.time() if wall is None else wall):
        if isinstance(observation, Rejection):
            reason = observation.reason.value
            rejected[reason] = rejected.get(reason, 0) + 1
            continue
        dispatch(observation, sink)
    end = engine.stream_time
    result: dict[str, Any] = {}
    for name, tally in sorted(tallies.items(), key=lambda item: (item[0].casefold(), item[0])):
        if any((tally.messages, tally.broadcasts, tally.replies, tally.resolved,
                tally.reopened)):
            result[name] = _brand_row(engine, name, tally, end)
    return {"brands": result, "rejected": rejected}


def _brand_row(engine: Engine, name: str, tally: BrandTally, end: float) -> dict[str, Any]:
    """One brand's row of the report, from its tallies and the engine's state at `end`."""
    brands = engine.brands
    times = tally.first_response_seconds
    has_state = engine.has_brand(name)
    snapshot = engine.snapshot(name, engine.brand_now(name, end)) if has_state else None
    backlog = snapshot.backlog if snapshot is not None else {}
    posts = tally.broadcasts + tally.replies
    share_broadcast = tally.broadcasts / posts if posts else math.nan
    # The live definition (docs/metrics.md): answered / (answered + overdue), i.e. over
    # the messages decided by the end of the input; those still inside their SLA wait.
    decided = tally.requires_reply - (engine.book(name).undecided() if has_state else 0)
    share_answered = tally.answered / decided if decided > 0 else math.nan
    share_templated = tally.templated_replies / tally.replies if tally.replies else math.nan
    behaviour = snapshot.behaviour if snapshot is not None else None
    row: dict[str, Any] = {
        "messages": tally.messages,
        "requires_reply": tally.requires_reply,
        "answered": tally.answered,
        "unanswered": sum(b.unanswered for b in backlog.values()),
        "expired_unanswered": tally.expired_unanswered,
        "late_replies": tally.late_replies,
        "sla_breaches": tally.breaches,
        "first_response_seconds": {"p50": times.quantile(0.5),
                                   "p90": times.quantile(0.9)},
    }
    config = brands.get(name)
    if config is not None and config.group is not None:
        row["group"] = config.group
    if config is not None and config.business_hours is not None:
        business = tally.first_response_business_seconds
        row["first_response_business_seconds"] = {"p50": business.quantile(0.5),
                                                   "p90": business.quantile(0.9)}
    row.update({
        "posts": {"broadcast": tally.broadcasts, "reply": tally.replies},
        "broadcast_ratio": json_number(share_broadcast),
        "reply_rate": json_number(share_answered),
        # Over the whole input, not a rolling window: a report covers a period.
        "templated_reply_ratio": json_number(share_templated),
        "robot_score": json_number(robot_score(
            with_evidence(share_broadcast, posts),
            with_evidence(share_answered, max(decided, 0)),
            with_evidence(share_templated, tally.replies))),
        "tone_deaf_count": tally.tone_deaf_count,
        "negative_messages": tally.negative,
        # Mean over the input's analysed messages in a language we read (not rolling).
        "sentiment": json_number(tally.sentiment_sum / tally.sentiment_n
                                 if tally.sentiment_n else math.nan),
        "tone_deaf_posts": list(tally.tone_deaf),  # the last TONE_DEAF_EXAMPLES
        "languages": tally.languages,
        "topic_alignment": (json_number(behaviour.topic_alignment)
                            if behaviour is not None else None),
        "top_audience_terms": ([term for term, _ in behaviour.top_audience_terms]
                               if behaviour is not None else []),
        "next_response_seconds": {"p50": tally.next_response_seconds.quantile(0.5),
                                  "p90": tally.next_response_seconds.quantile(0.9),
                                  "count": len(tally.next_response_seconds)},
        "policies": _policies_section(tally, brands.get(name)),
        "agents": _agents_section(tally, brands.get(name)),
        # Inbox conversations (business seconds when the brand's SLA uses business hours).
        "conversations": {"resolved": tally.resolved, "reopened": tally.reopened,
                          "resolution_seconds": {
                              "p50": tally.resolution_seconds.quantile(0.5),
                              "p90": tally.resolution_seconds.quantile(0.9)}},
    })
    return row


#: What share of voice is taken of: (report field, share field).
SHARES = (("messages", "messages"), ("requires_reply", "requires_reply"),
          ("negative_messages", "negative"))


def competitors(report: dict[str, Any], brands: BrandsConfig, group: str) -> dict[str, Any]:
    """The group's brands side by side, each with its share of voice within the group
    (its audience messages, requiring-reply ones and negative ones ÷ the group's); a brand
    of the group with no event in the input shows zeros. The offline twin of the
    "competitors" dashboard and its recording rules (docs/metrics.md)."""
    members = sorted((b.name for b in brands if b.group == group), key=str.casefold)
    empty = {"messages": 0, "requires_reply": 0, "negative_messages": 0}
    rows = {name: report["brands"].get(name, empty) for name in members}
    totals = {field: sum(row.get(field, 0) for row in rows.values()) for field, _ in SHARES}
    out: dict[str, Any] = {}
    for name, row in rows.items():
        out[name] = {**row, "share_of_voice": {
            share: round(row.get(field, 0) / totals[field], 6) if totals[field] else None
            for field, share in SHARES}}
    return {"group": group, "brands": out}


def _group_columns() -> list[tuple[str, int, Callable[[dict[str, Any]], Any]]]:
    def sov(row: dict[str, Any], share: str) -> Any:
        return row["share_of_voice"][share]

    def p(row: dict[str, Any], q: str) -> Any:
        return (row.get("first_response_seconds") or {}).get(q)

    return [
        ("msgs", 6, lambda r: r.get("messages", 0)),
        ("sov", 5, lambda r: sov(r, "messages")),
        ("need", 6, lambda r: r.get("requires_reply", 0)),
        ("sov", 5, lambda r: sov(r, "requires_reply")),
        ("neg", 5, lambda r: r.get("negative_messages", 0)),
        ("sov", 5, lambda r: sov(r, "negative")),
        ("p50 min", 8, lambda r: p(r, "p50")),
        ("p90 min", 8, lambda r: p(r, "p90")),
        ("rate", 5, lambda r: r.get("reply_rate")),
        ("robot", 5, lambda r: r.get("robot_score")),
        ("sent", 6, lambda r: r.get("sentiment")),
        ("tdeaf", 5, lambda r: r.get("tone_deaf_count")),
    ]


GROUP_LEGEND = """\
msgs/need/neg  audience messages / of them requiring a reply / reading negative (< -0.05)
sov     the brand's share of the group's msgs, need or neg (share of voice)
p50/p90 min  first-response time, minutes   rate  reply rate   robot  robot score 0-1
sent    mean audience sentiment (-1..1, en/fr messages)   tdeaf  tone-deaf posts
Over the whole input (or --since/--until). Definitions: docs/metrics.md"""


def format_competitors(section: dict[str, Any], legend: bool = True) -> str:
    """The group's table for humans: one line per brand, shares of voice beside counts."""
    columns = _group_columns()
    header = f"{section['group'][:20]:<20} " + " ".join(
        f"{title:>{width}}" for title, width, _ in columns)
    lines = [header, "-" * len(header)]
    for name, row in section["brands"].items():
        cells = []
        for title, width, get in columns:
            value = get(row)
            if value is None:
                text = "-"
            elif "min" in title:
                text = f"{value / 60:.1f}"
            elif isinstance(value, float):
                text = f"{value:.2f}"
            else:
                text = str(value)
            cells.append(f"{text:>{width}}")
        lines.append(f"{name[:20]:<20} " + " ".join(cells))
    if legend:
        lines += ["", GROUP_LEGEND]
    return "\n".join(lines)


# (header, width, JSON path or computed value): one definition for the table and the CSV.
def _columns() -> list[tuple[str, str, int, Callable[[dict[str, Any]], Any]]]:
    def business(row: dict[str, Any], q: str) -> Any:
        return (row.get("first_response_business_seconds") or {}).get(q)

    return [
        ("msgs", "messages", 6, lambda r: r["messages"]),
        ("need", "requires_reply", 6, lambda r: r["requires_reply"]),
        ("answd", "answered", 6, lambda r: r["answered"]),
        ("wait", "unanswered", 5, lambda r: r["unanswered"]),
        ("expd", "expired_unanswered", 5, lambda r: r["expired_unanswered"]),
        ("late", "late_replies", 4, lambda r: r["late_replies"]),
        ("breach", "sla_breaches", 6, lambda r: r["sla_breaches"]),
        ("p50 min", "first_response_p50_seconds", 8,
         lambda r: r["first_response_seconds"]["p50"]),
        ("p90 min", "first_response_p90_seconds", 8,
         lambda r: r["first_response_seconds"]["p90"]),
        ("bh p50", "first_response_business_p50_seconds", 7, lambda r: business(r, "p50")),
        ("bh p90", "first_response_business_p90_seconds", 7, lambda r: business(r, "p90")),
        ("bcast", "broadcasts", 6, lambda r: r["posts"]["broadcast"]),
        ("reply", "replies", 6, lambda r: r["posts"]["reply"]),
        ("rate", "reply_rate", 5, lambda r: r["reply_rate"]),
        ("robot", "robot_score", 5, lambda r: r["robot_score"]),
        ("tmpl", "templated_reply_ratio", 5, lambda r: r["templated_reply_ratio"]),
        ("align", "topic_alignment", 5, lambda r: r["topic_alignment"]),
        ("tdeaf", "tone_deaf_posts", 5, lambda r: r["tone_deaf_count"]),
        ("resvd", "conversations_resolved", 5, lambda r: r["conversations"]["resolved"]),
        ("res min", "resolution_p50_seconds", 7,
         lambda r: r["conversations"]["resolution_seconds"]["p50"]),
    ]


TABLE_LEGEND = """\
msgs    audience messages             need   of them, requiring a reply
answd   answered (first reply seen)   wait   unanswered at the end of the input
expd    expired unanswered (need = answd + wait + expd)
late    replies that came after expiry (counted in expd, not in answd)
breach  SLA breaches                  p50/p90 min  first-response time, calendar minutes
bh p50/p90  first-response time in business-hours minutes (brands with business hours)
bcast/reply  brand posts without/with in_reply_to
rate    reply rate: answd / messages decided (answered, overdue or expired); '-' = none
robot   robot score 0-1 (broadcast ratio, 1 - rate, tmpl)   tmpl   templated reply ratio
align   topic alignment 0-1 of broadcasts with the audience  tdeaf  tone-deaf posts
resvd   inbox conversations resolved  res min  their median resolution time, minutes
        (business minutes for brands with business hours)
Ratios cover the whole input (or --since/--until). Definitions: docs/metrics.md"""


def format_table(report: dict[str, Any], legend: bool = True) -> str:
    """A fixed-width per-brand table for humans (minutes, ratios), then its legend."""
    columns = _columns()
    header = f"{'brand':<20} " + " ".join(f"{title:>{width}}" for title, _, width, _ in columns)
    lines = [header, "-" * len(header)]

    def cell(title: str, value: Any, width: int) -> str:
        if value is None:
            text = "-"
        elif "min" in title or title.startswith("bh"):
            text = f"{value / 60:.1f}"
        elif isinstance(value, float):
            text = f"{value:.2f}"
        else:
            text = str(value)
        return f"{text:>{width}}"

    for name, row in report["brands"].items():
        lines.append(f"{name[:20]:<20} " + " ".join(
            cell(title, get(row), width) for title, _, width, get in columns))
    if legend:
        lines += ["", TABLE_LEGEND]
    return "\n".join(lines)


def format_csv(report: dict[str, Any]) -> str:
    """The table as CSV for spreadsheets: one row per brand, seconds and ratios as numbers,
    empty cells where the JSON has null."""
    import csv
    import io

    columns = _columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["brand", *(name for _, name, _, _ in columns)])
    for brand, row in report["brands"].items():
        values = [get(row) for _, _, _, get in columns]
        writer.writerow([brand, *("" if v is None else v for v in values)])
    return out.getvalue()


def format_progress(events: int, bytes_read: int, total_bytes: int, elapsed: float) -> str:
    """One progress line: events read, bytes of the file read, events per second."""
    rate = events / elapsed if elapsed > 0 else 0.0
    share = f" {min(bytes_read / total_bytes, 1.0):6.1%}" if total_bytes > 0 else ""
    return (f"{events:,} events  {bytes_read / 1e6:,.1f}/{total_bytes / 1e6:,.1f} MB{share}"
            f"  {rate:,.0f} ev/s")


def with_progress(
    events: Iterable[RecordedEvent], stream: IO[str], bytes_read: Callable[[], int],
    total_bytes: int, interval: float = 0.25, clock: Callable[[], float] = time.monotonic,
) -> Iterator[RecordedEvent]:
    """Pass `events` through, redrawing one `\\r` line on `stream` at most every `interval` s.

    The clock is read every 256 events only, so the bar costs nothing per event. The
    last line is drawn and ended with a newline when the events are exhausted.
    """
    started = last = clock()
    count = 0
    try:
        for count, event in enumerate(events, start=1):
            if not count & 255:
                now = clock()
                if now - last >= interval:
                    last = now
                    stream.write("\r" + format_progress(count, bytes_read(), total_bytes,
                                                        now - started) + " ")
                    stream.flush()
            yield event
    finally:
        stream.write("\r" + format_progress(count, bytes_read(), total_bytes,
                                            clock() - started) + " \n")
        stream.flush()
