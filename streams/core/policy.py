"""SLA policies: which first-response target a message is judged against.

A brand may list several policies (`[[brand.policy]]`); each message that needs a reply is
judged against the target of the first policy it matches, in the order of the brands file,
else against the brand's own `sla_seconds` under the policy name "default". A policy
matches when every condition it states holds:

- `kinds`: the message's kind is listed (direct_message, mention, comment, reply);
- `platforms`: the message's platform is listed;
- `authors` / `keywords` (priority rules): the author is listed, OR the text contains one
  of the keywords (whole words, case-insensitive; "cancel*" also matches "cancelled").

No Faust, Kafka or streams imports here: the config parser builds these objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from streams.events import AudienceKind

DEFAULT_POLICY = "default"
MESSAGE_KINDS = tuple(kind.value for kind in AudienceKind)
POLICY_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    if not keywords:
        return None
    parts = []
    for keyword in keywords:
        prefix = keyword.endswith("*")
        body = re.escape(keyword.rstrip("*").casefold())
        parts.append(body if prefix else body + r"(?!\w)")
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + ")")


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """One target class: its name (the `policy` metric label), target and conditions."""

    name: str
    sla_seconds: float
    kinds: frozenset[str] = frozenset()
    platforms: frozenset[str] = frozenset()
    authors: frozenset[str] = frozenset()  # lower-cased handles, without "@"
    keywords: tuple[str, ...] = ()  # lower-cased; a trailing "*" matches any word ending
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", _keyword_pattern(self.keywords))

    @property
    def unconditional(self) -> bool:
        """Matches every message (so no later policy can ever be reached)."""
        return not (self.kinds or self.platforms or self.authors or self.keywords)

    def matches(self, kind: str, platform: str, author: str, text: str) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        if self.platforms and platform not in self.platforms:
            return False
        if not (self.authors or self.keywords):
            return True
        if self.authors and author.lower().lstrip("@") in self.authors:
            return True
        pattern = self._pattern
        return pattern is not None and pattern.search(text.casefold()) is not None


def select_policy(policies: tuple[SlaPolicy, ...], default: SlaPolicy, kind: str,
                  platform: str, author: str, text: str) -> SlaPolicy:
    """The first policy (file order) the message matches, else `default`."""
    for policy in policies:
        if policy.matches(kind, platform, author, text):
            return policy
    return default
