"""The worker's HTTP endpoint under a scrape burst and idle connections, three servers:

  wsgiref     the former server (wsgiref + ThreadingMixIn, prometheus_client's WSGI app)
  aiohttp     aiohttp.web in its own thread and loop, same single-flight renderer
  brandpulse  streams.plumbing.web.WebServer (hand-written asyncio HTTP/1.1)

Each server runs in a child process (this script with `--child KIND`) serving a registry of
`--brands` brands x 3 platforms. The parent then, on 127.0.0.1:
  1. opens `--clients` connections at once, each sending one GET /metrics, and reports
     failures and the p50/p99 time from connect to last byte;
  2. opens `--idle` connections that send nothing, and reads the child's thread count
     (/proc/PID/status) while they are held, then how many the server has closed after its
     idle timeout (2 s in the children);
  3. trickles a request head one byte every 0.5 s and reports when the server drops it.

    python bench/web_server.py [--kinds wsgiref,aiohttp,brandpulse] [--clients 500]
                               [--idle 500] [--brands 100] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

IDLE_TIMEOUT = 2.0
HEAD_TIMEOUT = 2.0


def realistic_registry(brands: int) -> Any:
    """A worker's registry with every series of `brands` brands on three platforms."""
    from streams.config import parse_brands
    from streams.core.totals import BrandTotals, Timing
    from streams.metrics import BrandpulseMetrics

    document = {"brand": [
        {"name": f"brand{i:03d}",
         "handles": {"twitter": [f"t{i}"], "instagram": [f"i{i}"], "facebook": [f"f{i}"]}}
        for i in range(brands)]}
    metrics = BrandpulseMetrics()
    metrics.initialise(("brandpulse.brand-posts", "brandpulse.audience-messages"))
    metrics.brand_counters.fresh_seconds = 0
    for config in parse_brands(document):
        metrics.own_brand(config)
        totals = BrandTotals(config)
        for platform in ("twitter", "instagram", "facebook"):
            totals.observe((Timing.FIRST_RESPONSE, platform, "default"), 60.0)
        metrics.publish_totals({config.name: totals.frozen()})
    return metrics.registry


# -- servers (child process) -------------------------------------------------------------------

def serve_wsgiref(registry: Any) -> int:
    """The server the worker ran before streams/plumbing/web.py (thread per connection)."""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, make_wsgi_app(registry), Server, Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return int(server.server_port)


def serve_aiohttp(registry: Any) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from aiohttp import web

    from streams.plumbing.web import MetricsRenderer

    renderer = MetricsRenderer(registry, ThreadPoolExecutor(2))

    async def metrics(request: web.Request) -> web.Response:
        body, content_type, headers = await renderer.render(
            request.headers.get("Accept", ""), request.headers.get("Accept-Encoding", ""))
        return web.Response(body=body, headers={"Content-Type": content_type, **dict(headers)})

    ports: list[int] = []
    started = threading.Event()

    def run() -> None:
        loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, keepalive_timeout=IDLE_TIMEOUT, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        loop.run_until_complete(site.start())
        ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        started.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    started.wait(10)
    return ports[0]


def serve_brandpulse(registry: Any) -> int:
    from streams.plumbing.web import Limits, WebServer

    server = WebServer(registry, limits=Limits(idle_timeout=IDLE_TIMEOUT,
                                               header_timeout=HEAD_TIMEOUT))
    return server.start()


def child(kind: str, brands: int) -> None:
    registry = realistic_registry(brands)
    port = {"wsgiref": serve_wsgiref, "aiohttp": serve_aiohttp,
            "brandpulse": serve_brandpulse}[kind](registry)
    print(port, flush=True)
    sys.stdin.read()  # until the parent closes the pipe


# -- clients (parent) --------------------------------------------------------------------------

async def one_scrape(port: int, timeout: float) -> float | None:
    """Seconds from connect to the last byte of a complete 200, or None on any failure."""
    start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            writer.close()
            ok = head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200")
    except (OSError, TimeoutError, asyncio.IncompleteReadError, StopIteration, ValueError):
        return None
    return time.perf_counter() - start if ok else None


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


async def idle_connections(port: int, count: int, pid: int) -> dict[str, Any]:
    opened = []
    for _ in range(count):
        try:
            opened.append(await asyncio.open_connection("127.0.0.1", port))
        except OSError:
            break
    await asyncio.sleep(1.0)
    held_threads = threads_of(pid)

    async def closed(reader: asyncio.StreamReader) -> bool:
        try:
            async with asyncio.timeout(IDLE_TIMEOUT + 3.0):
                return await reader.read(1) == b""
        except (TimeoutError, OSError):
            return False

    closed_by_server = sum(await asyncio.gather(*(closed(r) for r, _ in opened)))
    for _, writer in opened:
        writer.close()
    return {"opened": len(opened), "threads_while_held": held_threads,
            "closed_by_server_within_s": IDLE_TIMEOUT + 3.0, "closed_by_server": closed_by_server}


async def slowloris(port: int, limit: float = 8.0) -> float | None:
    """Seconds until the server drops a client trickling a request head; None: not dropped."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.perf_counter()
    try:
        for byte in b"GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 100:
            if time.perf_counter() - start > limit:
                return None
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                async with asyncio.timeout(0.5):
                    data = await reader.read(100)
                    if data == b"" or data.startswith(b"HTTP/1.1 408"):
                        return time.perf_counter() - start
            except TimeoutError:
                pass
    except OSError:
        return time.perf_counter() - start
    finally:
        writer.close()
    return None


async def measure(kind: str, port: int, pid: int, clients: int, idle: int) -> dict[str, Any]:
    threads_before = threads_of(pid)
    times = await asyncio.gather(*(one_scrape(port, 120.0) for _ in range(clients)))
    ok = sorted(t for t in times if t is not None)
    burst = {"clients": clients, "failures": clients - len(ok),
             "p50_s": round(statistics.median(ok), 3) if ok else None,
             "p99_s": round(ok[min(len(ok) - 1, int(0.99 * len(ok)))], 3) if ok else None,
             "threads_after_burst": threads_of(pid)}
    await asyncio.sleep(0.5)
    held = await idle_connections(port, idle, pid)
    trickle = await slowloris(port)
    return {"server": kind, "threads_at_rest": threads_before, "burst": burst, "idle": held,
            "slow_head_dropped_after_s": None if trickle is None else round(trickle, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", default="wsgiref,aiohttp,brandpulse")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--brands", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.brands)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    results = []
    for kind in args.kinds.split(","):
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, "--brands", str(args.brands)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            result = asyncio.run(measure(kind, port, process.pid, args.clients, args.idle))
        finally:
            assert process.stdin is not None
            process.stdin.close()
            process.wait(10)
        results.append(result)
        if not args.json:
            print(json.dumps(result), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
