"""Mastodon and Meta webhook end to end: fake source -> `brandpulse ingest ... --broker` ->
tansu -> worker -> /metrics shows the brand's first response on the source's platform."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.plumbing.broker import EmbeddedBroker, free_port
from tests.unit.test_mastodon import (
    BRAND,
    BRAND_MENTION,
    DOMAIN,
    JANE,
    MENTION_HTML,
    FakeInstance,
    mention,
    serve,
    sse,
    status,
)

from .harness import Worker, post_signed, start_ingest, wait_until

pytestmark = pytest.mark.broker
STARTUP = 90.0


async def first_response_seen(worker: Worker, tmp_path: Path, ingest: subprocess.Popen[bytes],
                              platform: str) -> None:
    def logs() -> str:
        return worker.log() + (tmp_path / "ingest.log").read_text(errors="replace")

    labels = {"brand": "acme", "platform": platform}
    await asyncio.to_thread(
        wait_until, lambda: worker.value("brandpulse_first_response_seconds_count",
                                         policy="default", **labels)
        == 1, STARTUP, f"the first response on {platform}", logs)
    assert worker.value("brandpulse_sla_met_total", policy="default", **labels) == 1
    ingest.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(ingest.wait, 20) == 0  # flushed and stopped cleanly


def stop(ingest: subprocess.Popen[bytes], worker: Worker) -> None:
    if ingest.poll() is None:
        ingest.kill()
        ingest.wait(5)
    worker.kill(signal.SIGTERM)


async def test_mastodon_first_response_reaches_the_worker(
        broker: EmbeddedBroker, tmp_path: Path, app_id: str) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nsla_seconds = 3600\n'
                      f'handles = {{ mastodon = ["acme@{DOMAIN}"] }}\n')
    fake = FakeInstance(page_size=2)
    asked = status("120", JANE, f"<p>{MENTION_HTML} my parcel is lost</p>",
                   mentions=BRAND_MENTION, at=time.time() - 120)
    answer = status("320", BRAND, "<p>Sorry Jane, we are on it</p>", reply_to="120",
                    at=time.time() - 60)
    fake.notifications = [mention("20", asked)]  # found by the REST catch-up
    fake.streams = [[sse("update", answer)]]  # the answer arrives live
    runner, base = await serve(fake)
    worker = Worker(broker.url, brands, tmp_path, app_id)
    ingest = start_ingest(tmp_path, [
        "mastodon", "--brands", str(brands), "--instance", base, "--broker", broker.url,
        "--metrics-port", str(free_port()), "--cursor-file", str(tmp_path / "cursor")],
        {"MASTODON_TOKEN": "t0ken"})
    try:
        await first_response_seen(worker, tmp_path, ingest, "mastodon")
    finally:
        fake.closing.set()
        stop(ingest, worker)
        await runner.cleanup()


PAGE = "1111111111"


def feed(change: dict[str, Any]) -> bytes:
    return orjson.dumps({"object": "page", "entry": [{
        "id": PAGE, "time": int(time.time()), "changes": [{"field": "feed", "value": change}]}]})


async def test_meta_webhook_first_response_reaches_the_worker(
        broker: EmbeddedBroker, tmp_path: Path, app_id: str) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nsla_seconds = 3600\n'
                      f'handles = {{ facebook = ["{PAGE}"] }}\n')
    worker = Worker(broker.url, brands, tmp_path, app_id)
    port = free_port()
    secret = "app-secret"
    ingest = start_ingest(tmp_path, [
        "webhook", "--brands", str(brands), "--listen", f"127.0.0.1:{port}",
        "--broker", broker.url, "--metrics-port", str(free_port())],
        {"META_APP_SECRET": secret, "META_VERIFY_TOKEN": "verify"})
    url = f"http://127.0.0.1:{port}/meta"
    now = time.time()
    question = feed({"from": {"id": "999", "name": "Jane"}, "post_id": f"{PAGE}_42",
                     "comment_id": f"{PAGE}_42_c1", "parent_id": f"{PAGE}_42",
                     "created_time": int(now - 120), "item": "comment", "verb": "add",
                     "message": "Where is my parcel?"})
    answer = feed({"from": {"id": PAGE, "name": "Acme"}, "post_id": f"{PAGE}_42",
                   "comment_id": f"{PAGE}_42_c2", "parent_id": f"{PAGE}_42_c1",
                   "created_time": int(now - 60), "item": "comment", "verb": "add",
                   "message": "Sorry Jane, we are on it"})
    try:
        def accepted(body: bytes) -> Callable[[], bool]:
            return lambda: post_signed(url, body, secret) == 200
        await asyncio.to_thread(wait_until, accepted(question), STARTUP, "the webhook up")
        assert post_signed(url, answer, "forged-secret") == 401  # nothing produced
        assert post_signed(url, answer, secret) == 200  # acknowledged once on the broker
        await first_response_seen(worker, tmp_path, ingest, "facebook")
    finally:
        stop(ingest, worker)
