"""Scheduled brand posts, queued per brand until they go out, and the alarm they raise.

A post that a scheduler will publish during a crisis is the psychopath caught before the
fact: when a crisis is active, every queued post that would be tone-deaf at its scheduled
time (same `tone_verdict` as the live detector and the check) counts towards one alarm per
brand (`brandpulse_scheduled_tone_deaf_posts`). A post leaves the queue when the post of
the same id is published, when a `withdrawn` record names it, or `GRACE_SECONDS` after its
scheduled time (it went out unseen, or the scheduler dropped it): the queue stays bounded.

Persisted one state record per post (RecordTag.SCHEDULED, streams/wire.py), so a crash
loses none.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streams.core.crisis import DeclaredCrisis
from streams.core.promo import ToneVerdict, tone_verdict
from streams.events import ScheduledPost

#: Posts one brand may have queued; more is refused (dead-lettered with the reason).
MAX_SCHEDULED_PER_BRAND: Final = 1000
#: A post still queued this long after its scheduled time is forgotten.
GRACE_SECONDS: Final = 86400.0
#: Posts going out within this horizon count towards the alarm (a crisis now says little
#: about next month); the next one's delay is exported so rules can narrow it (6 h).
ALARM_HORIZON_SECONDS: Final = 86400.0

CrisesAt = Callable[[float], Sequence[DeclaredCrisis]]


@dataclass(frozen=True, slots=True)
class ScheduledAlarm:
    """What a brand's queue means now: `tone_deaf` posts going out within the horizon
    would be tone-deaf; `crisis` is the crisis most of them offend; `next_at` the earliest
    of them (event time)."""

    queued: int = 0
    tone_deaf: int = 0
    crisis: str | None = None
    next_at: float | None = None
    post_ids: tuple[str, ...] = ()  # the tone-deaf ones, earliest first (at most 20)


NO_ALARM: Final = ScheduledAlarm()


class ScheduledQueue:
    """One brand's scheduled posts; `dirty` holds the ids to persist (or delete)."""

    __slots__ = ("_verdicts", "dirty", "posts")

    def __init__(self) -> None:
        self.posts: dict[str, ScheduledPost] = {}
        self.dirty: set[str] = set()
        # post id -> (crises it was judged against, verdict): a post is re-judged only when
        # the crises that apply to it change, not at every snapshot.
        self._verdicts: dict[str, tuple[tuple[DeclaredCrisis, ...], ToneVerdict]] = {}

    def __len__(self) -> int:
        return len(self.posts)

    def refuses(self, post: ScheduledPost) -> str | None:
        """Why `post` cannot be queued (the queue is full), or None."""
        if post.id not in self.posts and len(self.posts) >= MAX_SCHEDULED_PER_BRAND:
            return (f"brand {post.brand!r} already has {MAX_SCHEDULED_PER_BRAND} scheduled "
                    "posts queued; withdraw or publish some first")
        return None

    def add(self, post: ScheduledPost) -> str | None:
        """Queue (or re-schedule) a post; the reason when the queue is full."""
        refused = self.refuses(post)
        if refused is not None:
            return refused
        self.posts[post.id] = post
        self._verdicts.pop(post.id, None)
        self.dirty.add(post.id)
        return None

    def remove(self, post_id: str) -> bool:
        """The post went out or was withdrawn; True when it was queued."""
        if self.posts.pop(post_id, None) is None:
            return False
        self._verdicts.pop(post_id, None)
        self.dirty.add(post_id)
        return True

    def expire(self, now: float) -> int:
        """Forget posts more than GRACE_SECONDS past their scheduled time."""
        old = [i for i, p in self.posts.items() if p.scheduled_at + GRACE_SECONDS < now]
        for post_id in old:
            self.remove(post_id)
        return len(old)

    def take_changes(self) -> dict[str, list[Any] | None]:
        """Rows of posts changed since the last call (None: gone, to be tombstoned)."""
        changes: dict[str, list[Any] | None] = {}
        for post_id in self.dirty:
            post = self.posts.get(post_id)
            changes[post_id] = None if post is None else [
                post.platform, post.created_at, post.scheduled_at, post.author, post.text]
        self.dirty.clear()
        return changes

    def restore(self, brand: str, rows: Iterable[tuple[str, list[Any]]]) -> None:
        """Rebuild from persisted rows (checked by the wire codec)."""
        for post_id, (platform, created_at, scheduled_at, author, text) in rows:
            self.posts[post_id] = ScheduledPost(post_id, brand, platform, author, text,
                                                created_at, scheduled_at)

    def alarm(self, now: float, crises_at: CrisesAt,
              horizon: float = ALARM_HORIZON_SECONDS) -> ScheduledAlarm:
        """Judge every post going out in [now, now + horizon] against the crises that apply
        at its scheduled time (`crises_at`); cheap when no crisis applies."""
        if not self.posts:
            return NO_ALARM
        flagged: list[tuple[float, str, str]] = []
        for post_id, post in self.posts.items():
            if not now <= post.scheduled_at <= now + horizon:
                continue
            crises = tuple(crises_at(post.scheduled_at))
            if not crises:
                continue
            cached = self._verdicts.get(post_id)
            if cached is None or cached[0] != crises:
                cached = self._verdicts[post_id] = (
                    crises, tone_verdict(post.text, crises, post.scheduled_at))
            verdict = cached[1]
            if verdict.reason is not None and verdict.crisis is not None:
                flagged.append((post.scheduled_at, post_id, verdict.crisis.name))
        if not flagged:
            return ScheduledAlarm(len(self.posts))
        flagged.sort()
        names: dict[str, int] = {}
        for _, _, name in flagged:
            names[name] = names.get(name, 0) + 1
        crisis = max(names, key=lambda n: names[n])  # ties: the first to go out
        return ScheduledAlarm(len(self.posts), len(flagged), crisis, flagged[0][0],
                              tuple(post_id for _, post_id, _ in flagged[:20]))


def seconds_until(alarm: ScheduledAlarm, now: float) -> float:
    """Seconds until the first tone-deaf scheduled post goes out (inf: none)."""
    return math.inf if alarm.next_at is None else max(0.0, alarm.next_at - now)
