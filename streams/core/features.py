"""What behaviour analysis keeps of each event, by name, and where it is kept.

Analysis reads an event's text once, live; what the behaviour detectors need of it is its
*features* (`AudienceFeatures`, `PostFeatures`). They are persisted with the event's SLA
record so that a restart rebuilds every detector exactly by replaying them
(`streams.core.detectors`), and they are kept meanwhile in the brand's `FeatureLog`, beside
the SLA book and dropped with the book's hours.

Named in code, packed at rest. The records are NamedTuples, read by field name; what the
log keeps is the plain tuple of their values (`at_rest`). The cyclic garbage collector
stops visiting an exact tuple of atoms after one pass, but never a tuple subclass or a
slotted object: kept for a week, a million features would otherwise add a million objects
to every full collection (bench/feature_records.py, docs/benchmarks.md).

The persisted row of an SLA record carries its features at one position (audience rows at
index 6, post rows at 3: streams/wire/state.py); `with_features` and `split_features` are
the one place that knows it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from streams.core.sla_records import RecordTag
from streams.events import Side

__all__ = [
    "AUDIENCE_FEATURES_AT",
    "POST_FEATURES_AT",
    "Analysed",
    "AudienceFeatures",
    "FeatureLog",
    "PostFeatures",
    "named",
    "split_features",
    "with_features",
]

#: Where the features sit in a persisted audience and post row (streams/wire/state.py).
AUDIENCE_FEATURES_AT = 6
POST_FEATURES_AT = 3
#: Audience features written before the stream-adaptive crisis signal have 6 fields.
_LEGACY_AUDIENCE_FIELDS = 6


class AudienceFeatures(NamedTuple):
    """What analysis keeps of one audience message."""

    lang: str  # "en", "fr", "other" (streams.core.lang)
    sentiment: float  # its polarity, 0.0 for other languages
    crisis_signal: bool  # what the crisis detectors counted: static or promoted hashtag
    in_crisis: bool  # a crisis applied to the brand when it arrived (sentiment context)
    engaged_broadcast: bool  # a reply to one of the brand's broadcasts
    terms: tuple[str, ...]  # its profile terms (topics, crisis content, recent mood)
    #: The crisis vocabulary's own verdict and the message's hashtags, which rebuild the
    #: crisis expansion (streams/core/crisis_expansion.py). None: persisted before it.
    static_signal: bool | None = None
    hashtags: tuple[str, ...] | None = None

    def at_rest(self) -> tuple[Any, ...]:
        """The plain tuple the log keeps and the row persists (6 fields when written before
        the expansion, so that a restored record is written back as it was read)."""
        return tuple(self) if self.hashtags is not None else tuple(self)[:_LEGACY_AUDIENCE_FIELDS]

    @staticmethod
    def pack(values: Sequence[Any]) -> tuple[Any, ...]:
        """The packed form of a persisted value (JSON: lists where tuples were)."""
        if len(values) > _LEGACY_AUDIENCE_FIELDS:
            return (values[0], values[1], values[2], values[3], values[4], tuple(values[5]),
                    values[6], tuple(values[7]))
        return values[0], values[1], values[2], values[3], values[4], tuple(values[5])

    @classmethod
    def from_rest(cls, values: Sequence[Any]) -> AudienceFeatures:
        """The record of a packed or persisted value."""
        return cls(*cls.pack(values))


class PostFeatures(NamedTuple):
    """What analysis keeps of one brand post: a broadcast's terms or a reply's
    fingerprint (None for an automated reply), never both."""

    broadcast_terms: tuple[str, ...] | None
    reply_fingerprint: int | None

    def at_rest(self) -> tuple[Any, ...]:
        return tuple(self)

    @staticmethod
    def pack(values: Sequence[Any]) -> tuple[Any, ...]:
        terms = values[0]
        return None if terms is None else tuple(terms), values[1]

    @classmethod
    def from_rest(cls, values: Sequence[Any]) -> PostFeatures:
        return cls(*cls.pack(values))


#: One analysed event of a brand's history, what `BrandBehaviour.restore` replays: (its
#: created_at, side, id, packed features). The features stay packed, the very tuple the
#: brand's log keeps, until the replay names them (`named`): a restore holds a whole
#: brand's history at once, and builds it for every record it reads.
Analysed = tuple[float, Side, str, tuple[Any, ...]]


def named(side: Side, packed: tuple[Any, ...]) -> AudienceFeatures | PostFeatures:
    """The record of packed features (6-field audience features get the defaults)."""
    if side is Side.AUDIENCE:
        return (AudienceFeatures._make(packed) if len(packed) > _LEGACY_AUDIENCE_FIELDS
                else AudienceFeatures(*packed))
    return PostFeatures._make(packed)


class FeatureLog:
    """One brand's kept features by event-time hour, audience and posts apart, as packed
    tuples; the hours the SLA book drops are dropped here too (`forget_before`)."""

    __slots__ = ("_hours", "_oldest")

    def __init__(self) -> None:
        self._hours: dict[int, tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]] = {}
        self._oldest: int | None = None

    def _hour(self, hour: int) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
        found = self._hours.get(hour)
        if found is None:
            found = self._hours[hour] = ({}, {})
            if self._oldest is None or hour < self._oldest:
                self._oldest = hour
        return found

    def keep(self, side: Side, hour: int, event_id: str,
             features: AudienceFeatures | PostFeatures) -> None:
        self.keep_packed(side, hour, event_id, features.at_rest())

    def keep_packed(self, side: Side, hour: int, event_id: str, packed: tuple[Any, ...]) -> None:
        self._hour(hour)[side is Side.BRAND][event_id] = packed

    def get(self, side: Side, hour: int, event_id: str) -> tuple[Any, ...] | None:
        """The packed features of an event, None when not analysed (or not kept)."""
        found = self._hours.get(hour)
        return None if found is None else found[side is Side.BRAND].get(event_id)

    def forget_before(self, hour: int | None) -> None:
        """Drop the hours before `hour` (the SLA book's oldest; None: it keeps nothing)."""
        if self._oldest is None or (hour is not None and self._oldest >= hour):
            return
        for old in [h for h in self._hours if hour is None or h < hour]:
            del self._hours[old]
        self._oldest = min(self._hours, default=None)

    def items(self) -> Iterator[tuple[Side, int, str, tuple[Any, ...]]]:
        """(side, hour, event id, packed features) of everything kept."""
        for hour, (audience, posts) in self._hours.items():
            for side, kept in ((Side.AUDIENCE, audience), (Side.BRAND, posts)):
                for event_id, features in kept.items():
                    yield side, hour, event_id, features

    def __len__(self) -> int:
        return sum(len(audience) + len(posts) for audience, posts in self._hours.values())


def with_features(audience: bool, row: list[Any], features: tuple[Any, ...] | None) -> list[Any]:
    """The persisted row of an SLA record (its book row) with its features in their place."""
    row.insert(AUDIENCE_FEATURES_AT if audience else POST_FEATURES_AT, features)
    return row


def split_features(rows: Iterable[tuple[int, RecordTag, str, list[Any]]],
                   log: FeatureLog | None
                   ) -> tuple[list[tuple[int, RecordTag, str, list[Any]]], list[Analysed]]:
    """Take the features out of persisted SLA rows (in place: the rows are the caller's
    freshly decoded ones) and return (the book's rows, the analysed history in event-time
    order). With a `log`, each record's features are kept in it, packed.

    The history's order is the one a replay needs to rebuild the detectors exactly: event
    time, and for equal times the rows' hour buckets in order of first appearance (any
    record kind opens one), audience before posts, then the rows' order."""
    book_rows: list[tuple[int, RecordTag, str, list[Any]]] = []
    hours: dict[int, tuple[dict[str, Analysed], dict[str, Analysed]]] = {}
    audience_tag, post_tag = RecordTag.AUDIENCE, RecordTag.POST
    audience_side, brand_side = Side.AUDIENCE, Side.BRAND
    pack_audience, pack_post = AudienceFeatures.pack, PostFeatures.pack
    for entry in rows:
        hour, tag, record_id, row = entry
        by_side = hours.get(hour)
        if by_side is None:
            by_side = hours[hour] = ({}, {})
        if tag is audience_tag:
            values = row.pop(AUDIENCE_FEATURES_AT)
            if values is None:
                by_side[0].pop(record_id, None)
            else:
                by_side[0][record_id] = (row[1], audience_side, record_id, pack_audience(values))
        elif tag is post_tag:
            values = row.pop(POST_FEATURES_AT)
            if values is None:
                by_side[1].pop(record_id, None)
            else:
                by_side[1][record_id] = (row[1], brand_side, record_id, pack_post(values))
        book_rows.append(entry)
    history: list[Analysed] = []
    for hour, (audience_kept, posts_kept) in hours.items():
        history.extend(audience_kept.values())
        history.extend(posts_kept.values())
        if log is not None:
            for _, side, event_id, packed in (*audience_kept.values(), *posts_kept.values()):
                log.keep_packed(side, hour, event_id, packed)
    history.sort(key=_at)
    return book_rows, history


def _at(item: Analysed) -> float:
    return item[0]
