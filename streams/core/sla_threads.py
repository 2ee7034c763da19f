"""Inbox conversations (Chatwoot): where `in_reply_to` names a conversation, not a message.

A customer message joins its conversation, and the brand's next reply in it answers every
message of the conversation created at or before that reply (docs/metrics.md, "Inbox
conversations"). Elsewhere a reply answers the one message it replies to. This index is
rebuilt from the book's records on restore; it persists nothing of its own.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

__all__ = ["THREADED_PLATFORMS", "ConversationIndex"]

#: Platforms whose `in_reply_to` names a conversation.
THREADED_PLATFORMS = frozenset({"chatwoot"})

Reply = tuple[float, str | None]  # (reply time, its agent)


def _time(reply: Reply) -> float:
    return reply[0]


class ConversationIndex:
    """Per conversation: the ids of its messages that need a reply, and the brand's
    replies in it sorted by time."""

    __slots__ = ("members", "replies")

    def __init__(self) -> None:
        self.members: dict[str, set[str]] = {}
        self.replies: dict[str, list[Reply]] = {}

    def add_message(self, thread: str, message_id: str) -> None:
        self.members.setdefault(thread, set()).add(message_id)

    def add_reply(self, thread: str, at: float, agent: str | None, *, sort: bool = True
                  ) -> None:
        """Keep a reply; `sort=False` while restoring (call `sorted_after_restore`)."""
        replies = self.replies.setdefault(thread, [])
        if sort:
            bisect.insort(replies, (at, agent), key=_time)
        else:
            replies.append((at, agent))

    def sorted_after_restore(self) -> None:
        for replies in self.replies.values():
            replies.sort(key=_time)

    def message_ids(self, thread: str) -> Iterable[str]:
        return self.members.get(thread, ())

    def reply_after(self, thread: str, created_at: float) -> Reply | None:
        """The brand's first reply in the conversation at or after `created_at`, if seen."""
        replies = self.replies.get(thread)
        if not replies:
            return None
        i = bisect.bisect_left(replies, created_at, key=_time)
        return replies[i] if i < len(replies) else None

    def replied_before(self, thread: str, created_at: float, oldest_hour_start: float) -> bool:
        """Had the brand replied in the conversation before this message (a follow-up), by
        a reply still in retention (at or after `oldest_hour_start`)?"""
        return any(oldest_hour_start <= at < created_at
                   for at, _ in self.replies.get(thread, ()))

    def forget(self, audience: Iterable[tuple[str, str | None]],
               posts: Iterable[tuple[Any, ...]]) -> None:
        """Take a dropped bucket's messages (id, thread) and reply posts (platform,
        created_at, target, agent) out of the index."""
        for message_id, thread in audience:
            members = None if thread is None else self.members.get(thread)
            if thread is not None and members is not None:
                members.discard(message_id)
                if not members:
                    del self.members[thread]
        for platform, created_at, target, agent in posts:
            if platform not in THREADED_PLATFORMS or target not in self.replies:
                continue
            replies = self.replies[target]
            if (created_at, agent) in replies:
                replies.remove((created_at, agent))
            if not replies:
                del self.replies[target]
