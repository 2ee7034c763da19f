"""The worker's HTTP server (plumbing/web.py): routes, methods, probes, limits, and a burst of
scrapes and of idle connections with bounded threads. No assertion on speed: only on what
is answered and on the resources held."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

from streams.cli import build_parser, settings_of
from streams.config import ConfigError, Settings, parse_brands, settings_from
from streams.core.totals import BrandTotals, Timing
from streams.metrics import BrandpulseMetrics
from streams.plumbing.web import Limits, Request, Response, WebServer, json_response

BRANDS = {"acme": {"brand": "acme", "robot_score": 0.25}, "globex": {"brand": "globex"}}


def fake_api(path: str) -> dict[str, Any] | None:
    if path == "/api/brands":
        return {"brands": sorted(BRANDS)}
    if path == "/api/crisis":
        return {"active": False}
    if path.startswith("/api/brands/"):
        return BRANDS.get(path.removeprefix("/api/brands/"))
    return None


def realistic_registry(brands: int = 100) -> CollectorRegistry:
    """Every series of `brands` brands on three platforms, as a worker exports them."""
    document = {"brand": [
        {"name": f"brand{i:03d}",
         "handles": {"twitter": [f"t{i}"], "instagram": [f"i{i}"], "facebook": [f"f{i}"]}}
        for i in range(brands)]}
    metrics = BrandpulseMetrics(CollectorRegistry())
    metrics.initialise(("posts", "messages"))
    metrics.brand_counters.fresh_seconds = 0
    for i, config in enumerate(parse_brands(document)):
        metrics.own_brand(config)
        totals = BrandTotals(config)
        for platform in ("twitter", "instagram", "facebook"):
            totals.observe((Timing.FIRST_RESPONSE, platform, "default"), 60.0 * i)
        metrics.publish_totals({config.name: totals.frozen()})
    return metrics.registry


@pytest.fixture
def serve() -> Iterator[Callable[..., WebServer]]:
    """Start WebServers on a free port; all stopped at the end of the test."""
    servers: list[WebServer] = []

    def start(registry: CollectorRegistry | None = None, **kwargs: Any) -> WebServer:
        kwargs.setdefault("api", fake_api)
        server = WebServer(registry or realistic_registry(3), port=0, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def request(server: WebServer, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw(server: WebServer, data: bytes, timeout: float = 10.0) -> bytes:
    """Send bytes, return everything the server sends until it closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"needs {needed} file descriptors, hard limit {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


# -- routes ----------------------------------------------------------------------------------

def test_metrics_route_renders_the_registry(serve: Callable[..., WebServer]) -> None:
    server = serve(realistic_registry(2))
    status, headers, body = request(server, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert ('brandpulse_first_response_seconds_count{brand="brand001",platform="instagram",'
            'policy="default"} 1.0' in text)
    assert "brandpulse_build_info" in text


def test_metrics_honours_openmetrics_and_gzip(serve: Callable[..., WebServer]) -> None:
    server = serve(realistic_registry(2))
    status, headers, body = request(server, "GET", "/metrics", headers={
        "Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text")
    assert headers["content-encoding"] == "gzip"
    text = gzip.decompress(body).decode()
    assert text.endswith("# EOF\n") and "brandpulse_robot_score" in text


@pytest.mark.parametrize(("path", "expected"), [
    ("/api/brands", {"brands": ["acme", "globex"]}),
    ("/api/brands/", {"brands": ["acme", "globex"]}),
    ("/api/brands/acme", BRANDS["acme"]),
    ("/api/brands/acme/", BRANDS["acme"]),
    ("/api/crisis", {"active": False}),
    ("/api/crisis?verbose=1", {"active": False}),
])
def test_api_routes(serve: Callable[..., WebServer], path: str, expected: Any) -> None:
    status, headers, body = request(serve(), "GET", path)
    assert (status, headers["content-type"]) == (200, "application/json")
    assert orjson.loads(body) == expected


@pytest.mark.parametrize("path", [
    "/", "/metricsx", "/metrics/extra", "/api", "/api/other", "/api/brandsx", "/api/brands/nobody",
    "/healthz/x", "/favicon.ico"])
def test_unknown_paths_are_404(serve: Callable[..., WebServer], path: str) -> None:
    status, _, body = request(serve(), "GET", path)
    assert status == 404
    assert orjson.loads(body)["error"] == "not found"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", [
    "/metrics", "/healthz", "/readyz", "/api/brands", "/api/brands/acme", "/api/crisis"])
def test_other_methods_are_405_with_allow(serve: Callable[..., WebServer], method: str,
                                          path: str) -> None:
    body = b'{"x": 1}' if method in ("POST", "PUT", "PATCH") else None
    status, headers, payload = request(serve(), method, path, body=body)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert orjson.loads(payload)["allow"] == ["GET", "HEAD"]


def test_405_on_unknown_method_does_not_call_the_api(serve: Callable[..., WebServer]) -> None:
    calls: list[str] = []
    server = serve(api=lambda path: calls.append(path) or {})
    assert request(server, "DELETE", "/api/brands/acme")[0] == 405
    assert calls == []


def test_head_answers_like_get_without_body(serve: Callable[..., WebServer]) -> None:
    server = serve()
    for path in ("/api/brands/acme", "/healthz", "/metrics", "/nowhere"):
        get_status, get_headers, get_body = request(server, "GET", path)
        head_status, head_headers, head_body = request(server, "HEAD", path)
        assert head_status == get_status
        assert head_body == b""
        if path != "/metrics":  # the render may differ by a sample between two requests
            assert int(head_headers["content-length"]) == len(get_body)
        assert head_headers["content-type"] == get_headers["content-type"]


@pytest.mark.parametrize("ok", [True, False])
def test_health_and_ready_probes(serve: Callable[..., WebServer], ok: bool) -> None:
    server = serve(health=lambda: (ok, {"loop": "alive" if ok else "stuck"}),
                   ready=lambda: (not ok, {"recovered": not ok}))
    status, _, body = request(server, "GET", "/healthz")
    assert (status, orjson.loads(body)) == (200 if ok else 503, {"loop": "alive" if ok
                                                                 else "stuck"})
    status, _, body = request(server, "GET", "/readyz")
    assert (status, orjson.loads(body)) == (503 if ok else 200, {"recovered": not ok})


def test_a_failing_handler_is_500_and_the_server_goes_on(serve: Callable[..., WebServer]
                                                         ) -> None:
    def broken() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("boom")

    server = serve(ready=broken)
    assert request(server, "GET", "/readyz")[0] == 500
    assert request(server, "GET", "/healthz")[0] == 200


def test_route_table_takes_a_post_route_with_a_bounded_body(
        serve: Callable[..., WebServer]) -> None:
    """How POST /api/check will be added: one line in the table, body limit per route."""
    server = WebServer(realistic_registry(1), port=0, api=fake_api)

    def check(req: Request) -> Response:
        return json_response(200, {"length": len(req.body), "text": req.body.decode()})

    server.add_route("POST", "/api/check", check, max_body=100)
    server.start()
    try:
        status, _, body = request(server, "POST", "/api/check", body=b"hello")
        assert (status, orjson.loads(body)) == (200, {"length": 5, "text": "hello"})
        assert request(server, "POST", "/api/check", body=b"x" * 101)[0] == 413
        status, headers, _ = request(server, "GET", "/api/check")
        assert (status, headers["allow"]) == (405, "POST")
        chunked = raw(server, b"POST /api/check HTTP/1.1\r\nHost: t\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        assert chunked.startswith(b"HTTP/1.1 411 ")
        expect = raw(server, b"POST /api/check HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n"
                             b"Expect: 100-continue\r\nConnection: close\r\n\r\nhi")
        assert expect.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    finally:
        server.stop()


# -- protocol and limits ------------------------------------------------------------------------

def test_keep_alive_and_pipelining(serve: Callable[..., WebServer]) -> None:
    server = serve()
    answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                         b"GET /api/brands HTTP/1.1\r\nHost: t\r\n\r\n"
                         b"GET /api/crisis HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 3
    assert answer.index(b'{"brands"') < answer.index(b'{"active"')
    assert answer.endswith(b'{"active":false}')


def test_http_1_0_closes_after_the_response(serve: Callable[..., WebServer]) -> None:
    answer = raw(serve(), b"GET /healthz HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in answer


@pytest.mark.parametrize(("data", "status"), [
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET healthz HTTP/1.1\r\n\r\n", 400),
    (b"GET /healthz HTTP/2.0\r\n\r\n", 505),
    (b"GET /healthz HTTP/1.1\r\nbad header\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\n" + b"X: a\r\n" * 101 + b"\r\n", 431),
])
def test_bad_requests_are_refused_and_closed(serve: Callable[..., WebServer], data: bytes,
                                             status: int) -> None:
    answer = raw(serve(), data)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:80]
    assert b"Connection: close" in answer


def test_slow_request_head_is_dropped_after_the_header_timeout(
        serve: Callable[..., WebServer]) -> None:
    server = serve(limits=Limits(header_timeout=0.5, idle_timeout=120.0))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the end of the head
        start = time.monotonic()
        answer = b""
        while chunk := sock.recv(1000):  # until the server closes (segments may split)
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert answer.endswith(b'{"error":"request head too slow"}')
        assert time.monotonic() - start < 60.0  # the head deadline (0.5 s), not idle (120 s)


def test_busy_connections_beyond_the_cap_get_503(serve: Callable[..., WebServer]) -> None:
    """The hard cap: when every connection is inside a request, a new one gets 503."""
    release = threading.Event()

    async def slow(request: Request) -> Response:
        while not release.is_set():
            await asyncio.sleep(0.01)
        return json_response(200, {})

    server = WebServer(CollectorRegistry(), port=0, limits=Limits(max_connections=3))
    server.add_route("GET", "/slow", slow)
    server.start()
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        deadline = time.monotonic() + 10
        while (server.open_connections < 3 or server._idle) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert raw(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").startswith(
            b"HTTP/1.1 503 ")
        assert server.evicted == 0
        release.set()
        for sock in held:
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")  # busy ones are not cut
    finally:
        release.set()
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert request(server, "GET", "/healthz")[0] == 200
    server.stop()


def test_probes_get_through_while_idle_connections_fill_the_cap(
        serve: Callable[..., WebServer]) -> None:
    """1024 idle connections (the default cap), refilled by their holder after each probe:
    20 fresh GET /healthz and 20 GET /metrics in a row all get 200, each by closing the
    longest-idle connection; the server never holds more than the cap."""
    raise_nofile(4096)
    cap, probes = Limits().max_connections, 20
    server = serve()
    assert server.limits.max_connections == cap

    async def run() -> tuple[list[int], int, int]:
        held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

        async def fill() -> None:
            while server.open_connections < cap:
                held.append(await asyncio.open_connection("127.0.0.1", server.port))
                for _ in range(200):  # until the server has it (bounded: 2 s)
                    if server.open_connections >= min(cap, len(held) - server.evicted):
                        break
                    await asyncio.sleep(0.01)

        async def get(path: str) -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                async with asyncio.timeout(10):
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
                    return int(head.split(b" ")[1])
            finally:
                writer.close()

        await fill()
        statuses, most = [], server.open_connections
        for path in ["/healthz"] * probes + ["/metrics"] * probes:
            statuses.append(await get(path))
            most = max(most, server.open_connections)
            for _ in range(200):  # until the server has seen the probe close (bounded: 2 s)
                if server.open_connections < cap:
                    break
                await asyncio.sleep(0.01)
            await fill()  # the holder takes the freed slot again
        for _, writer in held:
            writer.close()
        return statuses, most, len(held)

    statuses, most, opened = asyncio.run(run())
    assert statuses == [200] * (2 * probes)
    assert server.evicted == 2 * probes  # one idle connection closed per probe
    assert opened == cap + 2 * probes
    assert most <= cap


def test_stop_closes_the_listener_and_the_thread(serve: Callable[..., WebServer]) -> None:
    server = WebServer(CollectorRegistry(), port=0)
    port = server.start()
    before = threading.active_count()
    server.stop()
    assert threading.active_count() < before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_port_in_use_raises_at_start(serve: Callable[..., WebServer]) -> None:
    taken = serve()
    with pytest.raises(OSError):
        WebServer(CollectorRegistry(), port=taken.port).start()


# -- host ------------------------------------------------------------------------------------------

def test_binds_127_0_0_1_by_default() -> None:
    server = WebServer(CollectorRegistry())
    server.start()
    try:
        assert server.address[0] == "127.0.0.1"
    finally:
        server.stop()
    assert Settings().metrics_host == "127.0.0.1"
    assert settings_from({}).metrics_host == "127.0.0.1"


def test_metrics_host_from_env_and_flag() -> None:
    assert settings_from({"BRANDPULSE_METRICS_HOST": "0.0.0.0"}).metrics_host == "0.0.0.0"
    args = build_parser().parse_args(["worker", "--metrics-host", "::1"])
    assert settings_of(args).metrics_host == "::1"
    args = build_parser().parse_args(["worker"])
    assert settings_of(args).metrics_host in ("127.0.0.1", settings_from().metrics_host)


@pytest.mark.parametrize("host", ["0.0.0.0:9100", "http://0.0.0.0", "", " ", "a..b",
                                  "256.1.1.1", "-host"])
def test_invalid_metrics_host_fails_naming_field_and_fix(host: str) -> None:
    with pytest.raises(ConfigError, match=r"metrics_host: .*Fix: use 127\.0\.0\.1"):
        settings_from({"BRANDPULSE_METRICS_HOST": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost",
                                  "worker-1.brandpulse.svc"])
def test_valid_metrics_hosts(host: str) -> None:
    assert settings_from({}, metrics_host=host).metrics_host == host


# -- load ------------------------------------------------------------------------------------------

async def scrape(port: int, timeout: float) -> bytes | None:
    """One GET /metrics on its own connection; the body of a complete 200, else None."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200 "):
                    return None
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                return await reader.readexactly(length)
            finally:
                writer.close()
    except (OSError, TimeoutError, asyncio.IncompleteReadError, StopIteration):
        return None


def test_500_concurrent_scrapes_all_succeed(serve: Callable[..., WebServer]) -> None:
    """100 brands x 3 platforms (about 1 MB of text), 500 scrapes at once: no failure, every
    body complete, and the burst shares renders instead of rendering 500 times."""
    raise_nofile(2048)
    clients = 500
    server = serve(realistic_registry(100))
    baseline = threading.active_count()

    async def burst() -> list[bytes | None]:
        return await asyncio.gather(*(scrape(server.port, 120.0) for _ in range(clients)))

    bodies = asyncio.run(burst())
    failures = sum(body is None for body in bodies)
    assert failures == 0
    for body in bodies:
        assert body is not None and body.endswith(b"\n")  # a complete last line...
        assert b"\nbrandpulse_build_info{" in body  # ...and the whole exposition
        assert body.count(b'brandpulse_duplicate_events_total{brand="') == 100  # ...and every brand
    assert server.renders < clients // 2
    assert threading.active_count() <= baseline + Limits().render_threads


def test_idle_connections_hold_no_threads_and_are_closed(serve: Callable[..., WebServer]
                                                         ) -> None:
    """500 connections that send nothing: no thread each, all closed after the idle timeout."""
    raise_nofile(2048)
    count, idle_timeout = 500, 1.0
    server = serve(limits=Limits(idle_timeout=idle_timeout))
    baseline = threading.active_count()

    async def hold() -> tuple[int, int, int]:
        streams = []
        for _ in range(count):
            streams.append(await asyncio.open_connection("127.0.0.1", server.port))
        deadline = time.monotonic() + 10
        while server.open_connections < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        held = server.open_connections
        threads = threading.active_count()

        async def closed_by_server(reader: asyncio.StreamReader) -> bool:
            try:
                async with asyncio.timeout(idle_timeout + 10.0):
                    return await reader.read(1) == b""
            except (TimeoutError, OSError):
                return False

        closed = sum(await asyncio.gather(*(closed_by_server(r) for r, _ in streams)))
        for _, writer in streams:
            writer.close()
        return held, threads, closed

    held, threads, closed = asyncio.run(hold())
    assert held == count
    assert threads <= baseline + 2
    assert closed == count
    assert server.open_connections == 0


def test_a_scrape_never_gets_a_render_started_before_it_arrived(
        serve: Callable[..., WebServer]) -> None:
    """Single flight keeps freshness: a scrape arriving during a render waits for the next."""
    collected = threading.Event()
    release = threading.Event()
    collections = [0]

    class Slow:
        def collect(self) -> Iterator[GaugeMetricFamily]:
            collections[0] += 1
            if collections[0] == 1:
                collected.set()
                release.wait(10)
            yield GaugeMetricFamily("brandpulse_test_collection", "n", value=collections[0])

    registry = CollectorRegistry()
    registry.register(Slow())
    server = serve(registry)
    results: dict[str, bytes] = {}

    def get(name: str) -> None:
        results[name] = request(server, "GET", "/metrics")[2]

    first = threading.Thread(target=get, args=("first",))
    first.start()
    assert collected.wait(10)
    second = threading.Thread(target=get, args=("second",))
    second.start()
    time.sleep(0.2)  # the second request is in, waiting
    release.set()
    first.join(10)
    second.join(10)
    assert b"brandpulse_test_collection 1.0" in results["first"]
    assert b"brandpulse_test_collection 2.0" in results["second"]
