"""The reply-time SLA pinned on hand-computed cases (docs/metrics.md)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from streams.config import parse_brands
from streams.core.reply_rule import requires_reply
from streams.core.sla import ReplyBook
from streams.core.sla_observations import (
    DuplicateEvent,
    ExpiredUnanswered,
    FirstResponse,
    LateEvent,
    LateReply,
    MessageCounted,
    PostCounted,
    SlaBreached,
)
from streams.core.sla_records import RecordTag
from streams.events import AudienceKind, Side, SocialEvent

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp()  # a Monday, 10:00 UTC
MIN, HOUR, DAY = 60, 3600, 86400


def brands(**extra: object):
    brand = {"name": "acme", "handles": {"twitter": ["AcmeSupport"], "instagram": ["acme"]},
             "sla_seconds": HOUR, **extra}
    return parse_brands({"brand": [brand]})


ACME = brands().get("acme")


def message(id: str, at: float, text: str = "@AcmeSupport help", **kw: object) -> SocialEvent:
    fields = {"platform": "twitter", "author": "bob", "kind": AudienceKind.MENTION, **kw}
    return SocialEvent(Side.AUDIENCE, id, "acme", text=text, created_at=at, **fields)


def reply(id: str, at: float, to: str | None, **kw: object) -> SocialEvent:
    fields = {"platform": "twitter", "author": "AcmeSupport", **kw}
    return SocialEvent(Side.BRAND, id, "acme", text="on it", created_at=at, in_reply_to=to,
                       **fields)


def of(kind: type, observations: list) -> list:
    return [o for o in observations if isinstance(o, kind)]


def test_reply_within_sla_records_first_response_once() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    assert book.add_message(message("m1", T0), True, T0) == [
        MessageCounted("acme", "twitter", True)]
    out = book.add_post(reply("r1", T0 + 5 * MIN, "m1"), T0 + 5 * MIN)
    assert of(FirstResponse, out) == [FirstResponse("acme", "twitter", 300.0, None, True)]
    assert of(PostCounted, out) == [PostCounted("acme", "twitter", "reply")]
    # A second reply is a post, not another first response.
    out = book.add_post(reply("r2", T0 + 9 * MIN, "m1"), T0 + 9 * MIN)
    assert of(FirstResponse, out) == []
    assert book.backlog(T0 + 10 * MIN)["twitter"].unanswered == 0


def test_reply_delivered_before_its_message_still_matches() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    assert of(FirstResponse, book.add_post(reply("r1", T0 + 10 * MIN, "m1"), T0 + 10 * MIN)) == []
    out = book.add_message(message("m1", T0), True, T0 + 10 * MIN)
    assert of(FirstResponse, out) == [FirstResponse("acme", "twitter", 600.0, None, True)]
    assert book.backlog(T0 + 10 * MIN)["twitter"].unanswered == 0


def test_duplicates_change_nothing() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    assert book.add_message(message("m1", T0), True, T0) == [DuplicateEvent("acme")]
    book.add_post(reply("r1", T0 + MIN, "m1"), T0 + MIN)
    assert book.add_post(reply("r1", T0 + MIN, "m1"), T0 + MIN) == [DuplicateEvent("acme")]
    counts = book.hour_counts()
    assert sum(c.requiring_reply for c in counts.values()) == 1
    assert sum(c.replies for c in counts.values()) == 1


def test_breach_is_counted_when_the_deadline_passes_not_when_the_reply_comes() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=60)
    book.add_message(message("m1", T0), True, T0)
    assert book.advance(T0 + HOUR + 59) == []  # inside the grace for late deliveries
    assert book.advance(T0 + HOUR + 60) == [SlaBreached("acme", "twitter")]
    assert book.advance(T0 + 2 * HOUR) == []  # counted once
    backlog = book.backlog(T0 + 2 * HOUR)["twitter"]
    assert (backlog.unanswered, backlog.oldest_age_seconds) == (1, 2 * HOUR)
    out = book.add_post(reply("r1", T0 + 2 * HOUR, "m1"), T0 + 2 * HOUR)
    assert of(SlaBreached, out) == []
    assert of(FirstResponse, out) == [FirstResponse("acme", "twitter", 7200.0, None, False)]


def test_late_reply_before_any_timer_breaches_exactly_once() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    out = book.add_post(reply("r1", T0 + 90 * MIN, "m1"), T0 + 90 * MIN)
    assert of(SlaBreached, out) == [SlaBreached("acme", "twitter")]
    assert of(FirstResponse, out)[0].within_sla is False
    assert book.advance(T0 + 3 * HOUR) == []


def test_unanswered_message_expires_after_seven_days_and_stays_closed() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    assert book.advance(T0 + 2 * HOUR) == [SlaBreached("acme", "twitter")]
    assert book.advance(T0 + 7 * DAY - 1) == []
    assert book.advance(T0 + 7 * DAY) == [ExpiredUnanswered("acme", "twitter")]
    assert book.backlog(T0 + 7 * DAY)["twitter"].unanswered == 0
    out = book.add_post(reply("r1", T0 + 7 * DAY + 1, "m1"), T0 + 7 * DAY + 1)
    assert of(FirstResponse, out) == []


def test_events_older_than_retention_are_late_and_ignored() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    now = T0 + 9 * DAY
    assert book.add_message(message("old", T0), True, now) == [LateEvent("acme")]
    assert book.backlog(now)["twitter"].unanswered == 0


def test_old_buckets_are_forgotten_and_each_record_written_as_a_tombstone() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    book.add_post(reply("r1", T0 + 60, "m1"), T0 + 60)
    book.add_post(reply("r2", T0 + 60, "unseen"), T0 + 60)
    hour = int(T0 // HOUR)
    assert set(book.take_changes()) == {(hour, RecordTag.AUDIENCE, "m1"),
                                        (hour, RecordTag.POST, "r1"),
                                        (hour, RecordTag.POST, "r2"),
                                        (hour, RecordTag.ORPHAN, "unseen")}
    book.advance(T0 + 2 * HOUR)  # answered: only the bucket's end of retention is left
    assert book.next_due() == (hour + 1) * HOUR + book.retention_seconds
    book.advance(T0 + 8 * DAY + 2 * HOUR)
    assert book.take_changes() == {(hour, RecordTag.AUDIENCE, "m1"): None,
                                   (hour, RecordTag.POST, "r1"): None,
                                   (hour, RecordTag.POST, "r2"): None,
                                   (hour, RecordTag.ORPHAN, "unseen"): None}
    assert book.buckets == {}
    assert book.next_due() == math.inf


def test_a_batch_writes_only_the_records_it_changed() -> None:
    """The cost of persisting does not grow with what the hour already holds."""
    book = ReplyBook(ACME, breach_grace_seconds=0)
    for i in range(500):
        book.add_message(message(f"m{i}", T0 + i), True, T0 + i)
    assert len(book.take_changes()) == 500
    book.add_post(reply("r1", T0 + 600, "m7"), T0 + 600)
    changes = book.take_changes()
    hour = int(T0 // HOUR)
    assert set(changes) == {(hour, RecordTag.POST, "r1"), (hour, RecordTag.AUDIENCE, "m7")}
    assert changes[(hour, RecordTag.AUDIENCE, "m7")][3] == T0 + 600  # answered_at


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (message("a", T0, "@AcmeSupport my order is late"), True),
        (message("b", T0, "@acmesupport lowercase handle"), True),
        (message("b2", T0, "dear @AcmeSupport."), True),
        (message("c", T0, "talking about Acme without tagging"), False),
        (message("d", T0, "@AcmeSupport RT", is_share=True), False),
        (message("e", T0, "@AcmeSupport auto", automated=True), False),
        (message("f", T0, "@AcmeSupport me", author="AcmeSupport"), False),
        (message("g", T0, "no tag, but private", kind=AudienceKind.DIRECT_MESSAGE), True),
        (message("h", T0, "nice post", kind=AudienceKind.COMMENT), True),
        (message("i", T0, "@acme on instagram", platform="twitter"), False),
        (message("j", T0, "@acme on instagram", platform="instagram"), True),
        (reply("k", T0, None), False),
        # a mention resolved by the source from the platform's structure needs no handle
        (message("l", T0, "hi there", platform="bluesky"), True),
        (message("m", T0, "hi there", platform="mastodon"), True),
        (message("n", T0, "", platform="instagram"), True),
        (message("o", T0, "hi there", platform="bluesky", is_share=True), False),
        (message("p", T0, "hi there", platform="bluesky", kind=AudienceKind.MENTION,
                 automated=True), False),
    ],
)
def test_requires_reply_rule(event: SocialEvent, expected: bool) -> None:
    assert requires_reply(event, ACME) is expected


def test_business_hours_across_a_weekend() -> None:
    paris = ZoneInfo("Europe/Paris")
    config = brands(sla_seconds=2 * HOUR, business_hours={
        "timezone": "Europe/Paris", "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00", "end": "18:00"}).get("acme")
    book = ReplyBook(config, breach_grace_seconds=0)
    friday = datetime(2026, 3, 6, 17, 30, tzinfo=paris).timestamp()
    monday = datetime(2026, 3, 9, 9, 30, tzinfo=paris).timestamp()
    book.add_message(message("m1", friday), True, friday)
    # 30 business minutes on Friday, so the 2 h SLA ends Monday 10:30 Paris time.
    assert book.advance(monday) == []
    out = book.add_post(reply("r1", monday, "m1"), monday)
    first = of(FirstResponse, out)[0]
    assert first.seconds == monday - friday == 64 * HOUR
    assert first.business_seconds == HOUR
    assert first.within_sla is True
    deadline = datetime(2026, 3, 9, 10, 30, tzinfo=paris).timestamp()
    assert book.deadline_for(friday) == deadline


def test_state_round_trips_through_record_rows() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    book.add_message(message("m2", T0 + 10 * MIN), True, T0 + 10 * MIN)
    book.add_post(reply("r0", T0 + 30 * MIN, "later"), T0 + 30 * MIN)  # orphan
    book.add_post(reply("r1", T0 + 20 * MIN, "m1"), T0 + 20 * MIN)
    book.advance(T0 + 2 * HOUR)  # m2 breaches
    changes = book.take_changes()

    restored = ReplyBook(ACME, breach_grace_seconds=0)
    rows = [(hour, tag, record_id, row) for (hour, tag, record_id), row in changes.items()]
    assert all(row is not None for *_, row in rows)
    restored.restore(reversed(rows))  # any order
    assert restored.backlog(T0 + 2 * HOUR) == book.backlog(T0 + 2 * HOUR)
    assert restored.hour_counts() == book.hour_counts()
    # Replays after recovery are no-ops, the breach is not counted again, orphans still match.
    assert restored.add_post(reply("r1", T0 + 20 * MIN, "m1"), T0 + 2 * HOUR) == [
        DuplicateEvent("acme")]
    assert restored.advance(T0 + 3 * HOUR) == []
    out = restored.add_message(message("later", T0 + 25 * MIN), True, T0 + 3 * HOUR)
    assert of(FirstResponse, out) == [FirstResponse("acme", "twitter", 300.0, None, True)]


def test_a_late_reply_counted_before_a_restart_is_not_counted_again_after_it() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    expiry = T0 + ACME.expire_after_seconds
    first = book.add_post(reply("r1", expiry + MIN, "m1"), expiry + MIN)
    assert len(of(LateReply, first)) == 1
    rows = [(hour, tag, record_id, row)
            for (hour, tag, record_id), row in book.take_changes().items() if row is not None]
    restored = ReplyBook(ACME, breach_grace_seconds=0)
    restored.restore(rows)
    second = restored.add_post(reply("r2", expiry + 2 * MIN, "m1"), expiry + 2 * MIN)
    assert of(LateReply, second) == []  # as the uninterrupted book: one late reply
    assert of(LateReply, book.add_post(reply("r2", expiry + 2 * MIN, "m1"),
                                       expiry + 2 * MIN)) == []


def test_automated_replies_are_posts_but_not_first_responses() -> None:
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    out = book.add_post(reply("auto", T0 + 1, "m1", automated=True), T0 + 1)
    assert out == [PostCounted("acme", "twitter", "reply")]
    assert book.backlog(T0 + 1)["twitter"].unanswered == 1
    out = book.add_post(reply("r1", T0 + 20 * MIN, "m1"), T0 + 20 * MIN)
    assert of(FirstResponse, out) == [FirstResponse("acme", "twitter", 1200.0, None, True)]
