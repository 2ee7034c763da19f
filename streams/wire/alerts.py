"""Records of the alerts topic: what an on-call person or a chat bot reads."""

from __future__ import annotations

import orjson

from streams.core.behaviour import ToneDeafPost
from streams.wire.events import format_rfc3339


def tone_deaf_alert(post: ToneDeafPost) -> bytes:
    """A tone-deaf post: the post, the crisis it ignored and why, as JSON."""
    return orjson.dumps({
        "type": "tone_deaf_post", "brand": post.brand, "platform": post.platform,
        "post_id": post.post_id, "created_at": format_rfc3339(post.created_at),
        "reason": post.reason, "crisis": post.crisis, "explanation": post.explanation,
        "text": post.text,
    })
