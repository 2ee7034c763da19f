"""Bluesky end to end: fake Jetstream -> `brandpulse ingest bluesky --broker` -> tansu ->
worker -> /metrics shows the brand's first response on platform bluesky."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.plumbing.broker import EmbeddedBroker, free_port
from tests.jetstream_fake import BRAND_DID, JANE, FakeJetstream, post, uri

from .harness import Worker, parse_metrics, wait_until

pytestmark = pytest.mark.broker
STARTUP = 90.0


async def test_bluesky_first_response_reaches_the_worker(
        broker: EmbeddedBroker, tmp_path: Path, app_id: str) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nsla_seconds = 3600\n'
                      f'handles = {{ bluesky = ["{BRAND_DID}"] }}\n')
    now_us = int(time.time() * 1e6)
    question = post(JANE, now_us - 60_000_000, "j1", "my order is late",
                    parent=uri(BRAND_DID, "b0"))
    answer = post(BRAND_DID, now_us - 30_000_000, "b1", "sorry, DM us",
                  parent=uri(JANE, "j1"), root=uri(BRAND_DID, "b0"))
    fake = FakeJetstream([question, answer])
    url = await fake.start()
    worker = Worker(broker.url, brands, tmp_path, app_id)
    metrics_port = free_port()
    log = open(tmp_path / "ingest.log", "wb")  # noqa: SIM115
    ingest = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "ingest", "bluesky", "--brands", str(brands),
         "--url", url, "--broker", broker.url, "--metrics-port", str(metrics_port),
         "--cursor-file", str(tmp_path / "cursor")],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def logs() -> str:
        return worker.log() + (tmp_path / "ingest.log").read_text(errors="replace")

    async def until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        await asyncio.to_thread(wait_until, condition, timeout, what, logs)

    try:
        acme = {"brand": "acme", "platform": "bluesky"}
        await until(lambda: worker.value("brandpulse_first_response_seconds_count",
                                         policy="default", **acme)
                    == 1, STARTUP, "the first response on bluesky")

        def source(name: str, **labels: str) -> float | None:
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                        timeout=2) as response:
                samples = parse_metrics(response.read().decode())
            return samples.get((name, frozenset({"source": "bluesky", **labels}.items())))

        assert source("brandpulse_source_events_total", side="audience") == 1
        assert source("brandpulse_source_events_total", side="brand") == 1
        assert source("brandpulse_source_connected") == 1
        assert worker.value("brandpulse_sla_met_total", policy="default", **acme) == 1
        ingest.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(ingest.wait, 20) == 0
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait(5)
        log.close()
        worker.kill(signal.SIGTERM)
        await fake.stop()
