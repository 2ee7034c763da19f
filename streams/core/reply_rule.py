"""Which audience messages expect an answer from the brand: the requires-reply rule every
SLA figure starts from (docs/metrics.md, "Requires reply")."""

from __future__ import annotations

import re

from streams.core.brand import BrandConfig
from streams.events import AudienceKind, Side, SocialEvent

__all__ = ["requires_reply"]

# Handles may hold inner dots (Instagram) but never end with one: "@delta." is @delta.
# `@user`, or a fediverse `@user@domain` (Mastodon handles are user@domain).
_MENTION = re.compile(
    r"@([A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)")
# Platforms whose live source marks a message `mention` only when the platform itself
# names the brand's account (Bluesky's mention facet DID, Mastodon's mention notification,
# Instagram's `mentions` field for the brand's account id): the mention is trusted as is,
# whatever the text says (a handle renamed, a brand listed by its DID only). Elsewhere
# `mention` is only the default kind, and the text must @-name a handle of the brand.
_RESOLVED_MENTION_PLATFORMS = frozenset({"bluesky", "mastodon", "instagram"})


def requires_reply(event: SocialEvent, brand: BrandConfig) -> bool:
    """Does this audience message expect an answer from the brand?

    Yes when it is addressed to the brand (a direct message, a comment on or reply in the
    brand's conversation, a mention its source resolved from the platform's structure, or a
    post that @-mentions one of the brand's handles on that platform), is not a share, is
    not automated, and was not written by the brand itself.
    """
    if event.side is not Side.AUDIENCE or event.is_share or event.automated:
        return False
    if brand.is_own_handle(event.platform, event.author):
        return False
    if event.kind in (AudienceKind.DIRECT_MESSAGE, AudienceKind.COMMENT, AudienceKind.REPLY):
        return True
    if event.kind is AudienceKind.MENTION and event.platform in _RESOLVED_MENTION_PLATFORMS:
        return True
    handles = brand.handles.get(event.platform, frozenset())
    return any(m.lower() in handles for m in _MENTION.findall(event.text))
