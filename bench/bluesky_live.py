"""Frame→topic latency of `brandpulse ingest bluesky` under a paced firehose.

A local Jetstream stand-in (aiohttp websocket, 127.0.0.1) sends `--rate` frames/s for
`--duration` s, stamped with the wall clock (`time_us`), mostly strangers' posts and
`--brand-share` replies into the brand's thread. The real `brandpulse ingest bluesky
--broker` subprocess filters them into tansu; a consumer on the audience topic measures
receive time − event time per record. Prints frames/s sent, records received, p50/p99
latency and the ingest process's CPU %.

    .venv/bin/python bench/bluesky_live.py [--rate 2000] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
from aiohttp import web
from kafka import KafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.config import TopicNames, settings_from  # noqa: E402
from streams.plumbing.broker import EmbeddedBroker, create_topics, free_port  # noqa: E402
from tests.jetstream_fake import BRAND_DID, JANE, encode, post, uri  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def firehose(rate: float, duration: float, brand_share: float, ready: asyncio.Event,
                   port_box: list[int], sent: list[int]) -> None:
    async def subscribe(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        start, n = time.monotonic(), 0
        every = max(1, round(1 / brand_share))
        while time.monotonic() - start < duration:
            due = int((time.monotonic() - start) * rate)
            while n < due:
                now_us = int(time.time() * 1e6)
                if n % every == 0:
                    frame = post(JANE, now_us, f"j{n}", "my order is late",
                                 parent=uri(BRAND_DID, "b0"))
                else:
                    frame = post(f"did:plc:stranger{n % 5000:019d}", now_us, f"s{n}",
                                 "just posting about my day, nothing to see here")
                await ws.send_str(encode(frame))
                n += 1
            await asyncio.sleep(0.005)
        sent.append(n)
        async for _ in ws:  # hold the socket open: no reconnect, no replay
            pass
        return ws

    app = web.Application()
    app.router.add_get("/subscribe", subscribe)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port_box.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    ready.set()
    await asyncio.sleep(duration + 30)
    await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--brand-share", type=float, default=0.05)
    args = parser.parse_args()
    topics = TopicNames()
    workdir = Path(tempfile.mkdtemp(prefix="bp-bsky-"))
    brands = workdir / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nhandles = {{ bluesky = ["{BRAND_DID}"] }}\n')
    latencies: list[float] = []
    with EmbeddedBroker(log_path=str(workdir / "tansu.log")) as broker:
        create_topics(settings_from(broker=broker.url))
        stop = threading.Event()

        def consume() -> None:
            consumer = KafkaConsumer(topics.audience_messages,
                                     bootstrap_servers=broker.url.split("://", 1)[1],
                                     auto_offset_reset="earliest", group_id=None,
                                     consumer_timeout_ms=500)
            while not stop.is_set():
                for record in consumer:
                    created = orjson.loads(record.value)["created_at"]
                    from streams.wire import parse_rfc3339
                    latencies.append(time.time() - parse_rfc3339(created))
            consumer.close()

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        loop = asyncio.new_event_loop()
        ready, port_box, sent = asyncio.Event(), [], []
        task = loop.create_task(firehose(args.rate, args.duration, args.brand_share, ready,
                                         port_box, sent))
        loop.run_until_complete(ready.wait())
        ingest = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "ingest", "bluesky", "--brands", str(brands),
             "--url", f"ws://127.0.0.1:{port_box[0]}/subscribe", "--broker", broker.url,
             "--metrics-port", str(free_port()), "--cursor-file", str(workdir / "cursor")],
            stdout=open(workdir / "ingest.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=ROOT)
        started = time.monotonic()
        loop.run_until_complete(asyncio.sleep(args.duration + 8))
        cpu = os.times()
        with open(f"/proc/{ingest.pid}/stat") as handle:
            fields = handle.read().split()
        ticks = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
        elapsed = time.monotonic() - started
        ingest.terminate()
        ingest.wait(20)
        stop.set()
        reader.join(5)
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()
        del cpu
    print(f"frames sent: {sent[0] if sent else '?'} in {args.duration:.0f} s "
          f"({args.rate:,.0f}/s, {args.brand_share:.0%} about the brand)")
    print(f"audience records on the topic: {len(latencies)}")
    print(f"frame→topic latency p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms")
    print(f"ingest process CPU: {ticks / elapsed:.0%} of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
