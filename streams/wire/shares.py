"""Records of the crisis-shares topic: each worker's audience counts for the global scope."""

from __future__ import annotations

import math
from typing import Any

import orjson

from streams.core.shared_crisis import CrisisShare
from streams.events import MAX_FUTURE_SKEW_SECONDS, Rejection, RejectReason, beyond_skew
from streams.wire.events import identifier, load_record, missing_field

#: A share holds at most one retention window of 5-minute buckets (25 h = 300 buckets).
MAX_CRISIS_SHARE_BYTES = 256 * 1024
#: CrisisDetector's default retention (window 1 h x (24 baseline hours + 1)).
CRISIS_RETENTION_SECONDS = 25 * 3600
#: Messages one worker may count in one 5-minute bucket: 33 000 a second, far above any
#: brand's audience, far below what would swamp the detector's arithmetic.
MAX_BUCKET_MESSAGES = 10_000_000
MAX_SOURCE_CHARS = 256


def encode_crisis_share(share: CrisisShare, bucket_seconds: int) -> bytes:
    return orjson.dumps({
        "source": share.source, "first_seen": share.first_seen, "latest": share.latest,
        "bucket_seconds": bucket_seconds,
        "buckets": [[key, *counts] for key, counts in sorted(share.buckets.items())],
    })


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def decode_crisis_share(
    raw: bytes | None, bucket_seconds: int, now: float,
    max_future_skew: float = MAX_FUTURE_SKEW_SECONDS,
    retention_seconds: float = CRISIS_RETENTION_SECONDS,
) -> CrisisShare | Rejection:
    """Never raises: a bad share is a Rejection, dead-lettered by the worker.

    `now` is the wall clock. Accepted shares satisfy what a worker's own share does:
    ``first_seen <= latest <= now + max_future_skew``; every bucket key lies in the
    retention window ending at ``latest`` (keys from ``(latest - retention) // bucket`` to
    ``latest // bucket``, so at most retention/bucket + 1 of them, no duplicates); per
    bucket ``0 <= crisis <= messages <= MAX_BUCKET_MESSAGES`` and ``|sentiment_sum| <=
    messages``. Old shares are accepted: a replay of past days has old event times, and
    the detector itself forgets buckets older than its own window. Shares made with another
    bucket width would mix incomparable buckets and are rejected too.
    """
    record = load_record(raw, MAX_CRISIS_SHARE_BYTES)
    if isinstance(record, Rejection):
        return record
    if type(record) is not dict:
        return Rejection(RejectReason.SCHEMA, "crisis share is not a JSON object")
    source = identifier(record.get("source"))
    if source is None:
        return missing_field("source")
    if len(source) > MAX_SOURCE_CHARS:
        return Rejection(RejectReason.SCHEMA, f"source longer than {MAX_SOURCE_CHARS} "
                         "characters")
    width = record.get("bucket_seconds")
    if type(width) is not int or width != bucket_seconds:
        shown = repr(width) if type(width) in (int, float) else type(width).__name__
        return Rejection(RejectReason.SCHEMA, f"bucket_seconds {shown[:40]}"
                         f" differs from this worker's {bucket_seconds}")
    first_seen, latest = record.get("first_seen"), record.get("latest")
    if not (_number(first_seen) and _number(latest)):
        return Rejection(RejectReason.SCHEMA, "first_seen/latest must be finite numbers")
    assert first_seen is not None and latest is not None  # for the type checker
    if beyond_skew(latest, now, max_future_skew):
        return Rejection(RejectReason.FUTURE_TIMESTAMP, f"latest {latest!r} is beyond the "
                         f"wall clock {now:.0f} + {max_future_skew:.0f} s")
    if first_seen > latest:
        return Rejection(RejectReason.SCHEMA, "first_seen is after latest")
    rows = record.get("buckets")
    if type(rows) is not list:
        return Rejection(RejectReason.SCHEMA, "field 'buckets' is not a list")
    newest = int(latest // bucket_seconds)
    oldest = int((latest - retention_seconds) // bucket_seconds)
    if len(rows) > newest - oldest + 1:
        return Rejection(RejectReason.SCHEMA, f"{len(rows)} buckets: more than one retention "
                         "window")
    buckets: dict[int, tuple[int, int, float]] = {}
    for row in rows:
        if not (type(row) is list and len(row) == 4 and type(row[0]) is int
                and type(row[1]) is int and type(row[2]) is int and _number(row[3])):
            return Rejection(RejectReason.SCHEMA, "bucket rows are [key, messages, crisis, "
                             "sentiment_sum]")
        key, messages, crisis, sentiment_sum = row
        if not oldest <= key <= newest:
            return Rejection(RejectReason.SCHEMA, f"bucket {key} outside the retention "
                             f"window [{oldest}, {newest}] ending at latest")
        if key in buckets:
            return Rejection(RejectReason.SCHEMA, f"bucket {key} appears twice")
        if not (0 <= crisis <= messages <= MAX_BUCKET_MESSAGES
                and abs(sentiment_sum) <= messages * (1 + 1e-9) + 1e-6):
            return Rejection(RejectReason.SCHEMA, f"bucket {key}: counts inconsistent or "
                             f"beyond {MAX_BUCKET_MESSAGES} messages")
        buckets[key] = (messages, crisis, float(sentiment_sum))
    return CrisisShare(source, float(first_seen), float(latest), buckets)
