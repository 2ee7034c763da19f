"""KafkaSink against the embedded broker: the replay's topics, keys and encoding; acks=all."""

from __future__ import annotations

import orjson
import pytest

from streams.broker import EmbeddedBroker
from streams.events import AudienceKind, Side, SocialEvent
from streams.ingest import KafkaSink

from .harness import TOPICS, consume_all

pytestmark = pytest.mark.broker


async def test_kafka_sink_writes_both_topics_keyed_by_brand(broker: EmbeddedBroker) -> None:
    sink = KafkaSink(broker.url, "bluesky")
    message = SocialEvent(Side.AUDIENCE, "at://did:plc:j/app.bsky.feed.post/1", "acme",
                          "bluesky", "did:plc:j", "help", 1_700_000_000.0, None,
                          AudienceKind.MENTION, "en")
    answer = SocialEvent(Side.BRAND, "at://did:plc:a/app.bsky.feed.post/2", "acme",
                         "bluesky", "did:plc:a", "on it", 1_700_000_060.0, message.id)
    await sink.emit(message)
    await sink.emit(answer)
    await sink.flush()  # acks=all: both are on the broker when this returns
    await sink.close()
    [audience] = consume_all(broker.url, TOPICS.audience_messages, 1)
    [brand] = consume_all(broker.url, TOPICS.brand_posts, 1)
    assert orjson.loads(audience)["id"] == message.id
    assert orjson.loads(audience)["kind"] == "mention"
    assert orjson.loads(brand)["in_reply_to"] == message.id
