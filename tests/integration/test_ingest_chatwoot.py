"""Chatwoot end to end: signed webhooks -> `brandpulse ingest chatwoot --broker` -> tansu ->
worker -> /metrics shows the conversation's first response and its resolution time, exactly
once, through a retry and a worker restart."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.config import load_brands
from streams.events import ConversationStatus, Rejection
from streams.plumbing.broker import EmbeddedBroker, free_port
from streams.sources.chatwoot import Inboxes, parse_chatwoot_payload, sign
from streams.wire import status_to_dict
from tests.unit.test_chatwoot import FIXTURES

from .harness import TOPICS, Worker, produce, start_ingest, wait_until

pytestmark = pytest.mark.broker
STARTUP = 90.0
SECRET = "chatwoot-webhook-secret"


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def retimed(name: str, at: float, opened: float) -> dict[str, Any]:
    """A fixture moved to `at` (its conversation opened at `opened`)."""
    payload = dict(FIXTURES[name])
    if payload["event"] == "message_created":
        payload["created_at"] = iso(at)
        payload["conversation"] = {**payload["conversation"], "created_at": int(opened)}
    else:
        payload.update(created_at=int(opened), updated_at=at, timestamp=int(at))
    return payload


def post(url: str, payload: dict[str, Any], secret: str = SECRET) -> int:
    """POST a body signed as Chatwoot signs it; 0 while the server is not listening."""
    body = orjson.dumps(payload)
    stamp = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Chatwoot-Timestamp": stamp,
        "X-Chatwoot-Signature": sign(secret, stamp, body)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def numbers(worker: Worker) -> dict[str, float | None]:
    chatwoot = {"brand": "acme", "platform": "chatwoot"}
    return {
        "first_responses": worker.value("brandpulse_first_response_seconds_count",
                                        policy="default", **chatwoot),
        "first_response_sum": worker.value("brandpulse_first_response_seconds_sum",
                                           policy="default", **chatwoot),
        "sla_met": worker.value("brandpulse_sla_met_total", policy="default", **chatwoot),
        "needing_reply": worker.value("brandpulse_audience_messages_total",
                                      requires_reply="true", **chatwoot),
        "replies": worker.value("brandpulse_brand_posts_total", kind="reply", **chatwoot),
        "resolutions": worker.value("brandpulse_conversation_resolution_seconds_count",
                                    **chatwoot),
        "resolution_sum": worker.value("brandpulse_conversation_resolution_seconds_sum",
                                       **chatwoot),
        "within_30m": worker.value("brandpulse_conversation_resolution_seconds_bucket",
                                   le="1800.0", **chatwoot),
        "within_15m": worker.value("brandpulse_conversation_resolution_seconds_bucket",
                                   le="900.0", **chatwoot),
        "reopened": worker.value("brandpulse_conversations_reopened_total", **chatwoot),
    }


# By hand: the customer writes at opened + 600, the agent answers at opened + 1200 (600 s,
# within the 1 h target); the conversation is resolved at opened + 1800 (1800 s after it
# opened: in the le=1800 bucket, not in le=900) and reopened at opened + 2400.
EXPECTED = {"first_responses": 1.0, "first_response_sum": 600.0, "sla_met": 1.0,
            "needing_reply": 1.0, "replies": 1.0, "resolutions": 1.0, "resolution_sum": 1800.0,
            "within_30m": 1.0, "within_15m": 0.0, "reopened": 1.0}


async def test_chatwoot_sla_and_resolution_reach_the_worker_exactly_once(
        broker: EmbeddedBroker, tmp_path: Path, app_id: str) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text('[[brand]]\nname = "acme"\nsla_seconds = 3600\n'
                      'handles = { chatwoot = ["12"] }\n')
    worker = Worker(broker.url, brands, tmp_path, app_id)
    port = free_port()
    ingest = start_ingest(tmp_path, [
        "chatwoot", "--brands", str(brands), "--listen", f"127.0.0.1:{port}",
        "--broker", broker.url, "--metrics-port", str(free_port())],
        {"CHATWOOT_WEBHOOK_SECRET": SECRET})
    url = f"http://127.0.0.1:{port}/chatwoot"
    opened = float(int(time.time()) - 3600)  # whole seconds, as Chatwoot sends created_at

    def logs() -> str:
        return worker.log() + (tmp_path / "ingest.log").read_text(errors="replace")

    restarted: Worker | None = None
    try:
        incoming = retimed("incoming", opened + 600, opened)
        await asyncio.to_thread(wait_until, lambda: post(url, incoming) == 200, STARTUP,
                                "the chatwoot webhook up", logs)
        assert post(url, incoming, secret="forged") == 401  # refused, nothing produced
        assert post(url, incoming) == 200  # Chatwoot delivering it again: a duplicate
        for name in ("private_note", "agent_bot", "template"):  # none of them answers
            assert post(url, retimed(name, opened + 900, opened)) == 200
        for name, at in (("outgoing", 1200), ("resolved", 1800), ("reopened", 2400)):
            assert post(url, retimed(name, opened + at, opened)) == 200
        await asyncio.to_thread(wait_until, lambda: numbers(worker) == EXPECTED, STARTUP,
                                "the SLA and resolution numbers",
                                lambda: f"{logs()}\n{numbers(worker)}")
        ingest.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(ingest.wait, 20) == 0

        # A restart keeps every count; the resolution delivered again after it (a retry
        # that reached the broker twice) is a duplicate, not a second resolution.
        worker.kill(signal.SIGTERM)
        restarted = Worker(broker.url, brands, tmp_path, app_id, name="worker")
        resolved = parse_chatwoot_payload(
            retimed("resolved", opened + 1800, opened),
            Inboxes.from_brands(load_brands(brands)), time.time())
        assert not isinstance(resolved, Rejection)
        status = resolved.events[0]
        assert isinstance(status, ConversationStatus)
        produce(broker.url, [(TOPICS.brand_posts, b"acme",
                              orjson.dumps(status_to_dict(status)))])
        await asyncio.to_thread(
            wait_until, lambda: (restarted.value("brandpulse_duplicate_events_total",
                                                 brand="acme") or 0) >= 1,
            STARTUP, "the redelivered resolution", restarted.log)
        assert numbers(restarted) == EXPECTED
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait(5)
        worker.kill(signal.SIGTERM)
        if restarted is not None:
            restarted.kill(signal.SIGTERM)
