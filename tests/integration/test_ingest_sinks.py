"""KafkaSink against the embedded broker: the replay's topics, keys and encoding; acks=all;
a stop that a vanished broker cannot hold."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import orjson
import pytest

from streams.commands.ingest import KafkaSink
from streams.events import AudienceKind, Side, SocialEvent
from streams.plumbing.broker import EmbeddedBroker, free_port

from .harness import TOPICS, consume_all, post_signed, start_ingest, wait_until
from .test_ingest_sources import PAGE, feed

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


def test_sigterm_stops_ingest_within_5_s_when_its_broker_is_gone(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    """A Kafka client still waiting on a vanished broker must not hold the stop: one line,
    exit 75 (the cursor was not saved, so a restart replays), well within 5 s."""
    brands = tmp_path / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nhandles = {{ facebook = ["{PAGE}"] }}\n')
    port = free_port()
    ingest = start_ingest(tmp_path, [
        "webhook", "--brands", str(brands), "--listen", f"127.0.0.1:{port}",
        "--broker", broker.url, "--metrics-port", str(free_port())],
        {"META_APP_SECRET": "s", "META_VERIFY_TOKEN": "v"})
    url = f"http://127.0.0.1:{port}/meta"
    comment = feed({"from": {"id": "999", "name": "Jane"}, "post_id": f"{PAGE}_42",
                    "comment_id": f"{PAGE}_42_c1", "parent_id": f"{PAGE}_42",
                    "created_time": int(time.time() - 60), "item": "comment", "verb": "add",
                    "message": "Where is my parcel?"})
    try:
        wait_until(lambda: _answers(url), 60, "the webhook up")
        broker.stop(kill=True)
        # an event the client now holds for a broker that is gone
        threading.Thread(target=post_signed, args=(url, comment, "s"), daemon=True).start()
        time.sleep(1.5)
        started = time.monotonic()
        ingest.send_signal(signal.SIGTERM)
        code = ingest.wait(timeout=10)
        took = time.monotonic() - started
    finally:
        if ingest.poll() is None:
            ingest.kill()
    log = (tmp_path / "ingest.log").read_text()
    assert took < 5, (took, log[-2000:])
    assert code in (0, 75), log[-2000:]
    assert "Traceback" not in log


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url + "?hub.mode=subscribe&hub.verify_token=v"
                                    "&hub.challenge=1", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
