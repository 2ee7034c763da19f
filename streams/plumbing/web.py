"""The worker's HTTP server: /metrics, /healthz, /readyz, /startupz and the read-only /api/.

A small HTTP/1.1 server on asyncio, run on its own event loop in its own thread, so that a
scrape never waits for the Faust loop and the Faust loop never waits for a scrape.

Why hand-written rather than wsgiref or aiohttp.web: `python bench/web_server.py`, one
child process per server, a 100-brand registry (1 MB of text), 2 shared busy cores:

  server                 500 concurrent GET /metrics      500 idle connections
                         failures  p50        p99         threads  closed after 2 s idle
  wsgiref (the old one)  300-343   16-26 s    60-63 s     502      0 (held forever)
  aiohttp.web 3.14       0         1.2-4.4 s  1.2-4.7 s   4        500
  this server            0         1.1-3.9 s  1.2-4.3 s   3        500

(ranges: repeated runs on a machine shared with other jobs; both asyncio servers use the
same single-flight renderer below, and both drop a client trickling its request head.)
aiohttp.web is as good on these numbers; this server was kept because its bounds do not
depend on a library that is not ours (faust-streaming accepts any aiohttp 3.8-3.x and we
would have to pin it to rely on its timeouts), it caps connections, it gives a request head
its own deadline apart from the keep-alive idle one, and it needs only the standard
library and prometheus_client.

Routes live in one table (`WebServer.add_route`): (method, path or path prefix) -> handler.
Only the listed methods answer; another method on a known path gets 405 with `Allow`, an
unknown path 404. HEAD is answered wherever GET is. The one write-shaped route, POST
/api/check (docs/check.md), exists when a check function is given; it needs a bearer token.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest

from streams.metrics import TextRenderer
from streams.plumbing.ratelog import AcceptExhaustion, RateLimitedLog

log = logging.getLogger(__name__)

ApiFunction = Callable[[str], "dict[str, Any] | None"]
ProbeFunction = Callable[[], "tuple[bool, dict[str, Any]]"]
CheckFunction = Callable[[Any], "tuple[int, dict[str, Any]]"]  # JSON body -> status, JSON
CHECK_TOKEN_ENV = "BRANDPULSE_CHECK_TOKEN"
MAX_CHECK_BODY = 64 * 1024  # a draft is at most 10,000 characters
_WRITE_SLICE = 64 * 1024
MAX_NAMES = 64  # metric families one filtered scrape may ask for
LINGER_SECONDS, LINGER_BYTES = 2.0, 1024 * 1024  # reading what follows a refused request
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Limits:
    """Every resource the server may hold, bounded."""

    max_connections: int = 1024  # at the cap the longest-idle connection is closed for a
    # new one; when none is idle (all are reading or answering a request), 503 and close
    backlog: int = 1024  # listen queue (the kernel caps it at net.core.somaxconn)
    header_timeout: float = 10.0  # from the first byte of a request to the end of its head
    idle_timeout: float = 30.0  # keep-alive: wait for the next request (and the first one)
    body_timeout: float = 10.0  # reading a request body, on routes that take one
    write_timeout: float = 30.0  # to send one response; a client reading slower is dropped
    max_header_bytes: int = 16 * 1024  # request line + headers
    max_headers: int = 100
    render_threads: int = 2  # threads rendering /metrics (and `WebServer.run_blocking`)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-decoded, query removed, one trailing "/" removed
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], "Response | Awaitable[Response]"]


@dataclass(frozen=True, slots=True)
class Route:
    """`path` matches exactly, or, with `prefix`, any path below it ("/api/brands/x")."""

    method: str
    path: str
    handler: Handler
    prefix: bool = False
    max_body: int = 0  # bytes of request body accepted; 0: a body is refused

    def matches(self, path: str) -> bool:
        return path.startswith(self.path) if self.prefix else path == self.path


def json_response(status: int, body: Any) -> Response:
    return Response(status, orjson.dumps(body))


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class WebServer:
    """The worker's HTTP endpoint; `start()` binds and returns the port, `stop()` ends it.

    `api(path)` answers GET /api/brands, /api/brands/NAME and /api/crisis (None: 404);
    `health()`, `ready()` and `startup()` return (ok, details): 200 with details when ok,
    else 503.
    Handlers run on the server's loop, in the server's thread: they must be quick, and since
    the Faust loop writes what they read, read only objects it replaces whole (never iterate
    a dict it mutates in place). Slow work goes to `run_blocking` from an async handler.
    """

    def __init__(self, registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int = 0,
                 api: ApiFunction | None = None, health: ProbeFunction | None = None,
                 ready: ProbeFunction | None = None, startup: ProbeFunction | None = None,
                 limits: Limits | None = None,
                 check: CheckFunction | None = None, check_token: str | None = None) -> None:
        self.host = host
        self.port = port
        self.registry = registry
        self.limits = limits or Limits()
        self._api = api or (lambda path: None)
        self._routes: list[Route] = []
        self._connections: set[asyncio.Task[Any]] = set()
        # Connections waiting for their next (or first) request, longest-idle first.
        self._idle: dict[asyncio.Task[Any], None] = {}
        self.evicted = 0  # idle connections closed to admit a new one (tests, benchmarks)
        self._faults = RateLimitedLog(log)
        #: accept() failing for want of descriptors: logged once, then summarised.
        self.exhaustion = AcceptExhaustion(log, "web server")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(self.limits.render_threads, "brandpulse-web-render")
        self._renderer = MetricsRenderer(registry, self._pool)
        self.add_route("GET", "/metrics", self._metrics)
        self.add_route("GET", "/healthz", self._probe(health or (lambda: (True, {}))))
        self.add_route("GET", "/readyz", self._probe(ready or (lambda: (True, {}))))
        self.add_route("GET", "/startupz", self._probe(startup or (lambda: (True, {}))))
        self.add_route("GET", "/api/brands", self._api_get)
        self.add_route("GET", "/api/brands/", self._api_get, prefix=True)
        self.add_route("GET", "/api/crisis", self._api_get)
        if check is not None:
            token = check_token if check_token is not None else os.environ.get(CHECK_TOKEN_ENV)
            self.add_route("POST", "/api/check", check_route(check, token or None),
                           max_body=MAX_CHECK_BODY)

    # -- routes ------------------------------------------------------------------------------

    def add_route(self, method: str, path: str, handler: Handler, *, prefix: bool = False,
                  max_body: int = 0) -> None:
        """Register a handler (sync or async) for `method` on `path`; call before start()."""
        self._routes.append(Route(method.upper(), path, handler, prefix, max_body))

    def _resolve(self, method: str, path: str) -> Route | Response:
        """The route for (method, path), or the 404/405 response. The most specific pattern
        wins: an exact path before prefixes, a longer prefix before a shorter one."""
        matching = [r for r in self._routes if r.matches(path)]
        if not matching:
            return json_response(404, {"error": "not found", "path": path})
        best = max(matching, key=lambda r: (not r.prefix, len(r.path)))
        same = [r for r in matching if (r.path, r.prefix) == (best.path, best.prefix)]
        wanted = "GET" if method == "HEAD" else method
        for route in same:
            if route.method == wanted:
                return route
        allowed = sorted({r.method for r in same} | ({"HEAD"} if any(
            r.method == "GET" for r in same) else set()))
        response = json_response(405, {"error": "method not allowed", "allow": allowed})
        response.headers.append(("Allow", ", ".join(allowed)))
        return response

    def _api_get(self, request: Request) -> Response:
        body = self._api(request.path)
        if body is None:
            return json_response(404, {"error": "not found", "path": request.path})
        return json_response(200, body)

    @staticmethod
    def _probe(probe: ProbeFunction) -> Handler:
        def handler(request: Request) -> Response:
            ok, details = probe()
            return json_response(200 if ok else 503, details)
        return handler

    async def _metrics(self, request: Request) -> Response:
        # ?name[]=a&name[]=b: only those families, as prometheus_client's own server does.
        names = tuple(sorted(set(parse_qs(request.query).get("name[]", []))))[:MAX_NAMES]
        body, content_type, headers = await self._renderer.render(
            request.headers.get("accept", ""), request.headers.get("accept-encoding", ""),
            names)
        return Response(200, body, content_type, headers)

    async def run_blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(*args)` on the server's bounded thread pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> int:
        """Bind and serve in a daemon thread; returns the bound port. Raises OSError when the
        address cannot be bound (taken port, address not on this host)."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self.exhaustion.install(loop)
            try:
                self._server = loop.run_until_complete(asyncio.start_server(
                    self._serve_connection, self.host, self.port,
                    backlog=self.limits.backlog, limit=self.limits.max_header_bytes,
                    reuse_address=True))
            except BaseException as exc:
                failure.append(exc)
                started.set()
                loop.close()
                return
            self.port = int(self._server.sockets[0].getsockname()[1])
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="brandpulse-web", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise TimeoutError("web server did not start within 30 s")
        if failure:
            self._thread.join(5)
            raise failure[0]
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, then end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(timeout), loop)
        try:
            future.result(timeout + 1)
        except Exception:  # stopping anyway
            log.warning("web server: unclean shutdown", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _shutdown(self, timeout: float) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=timeout)
        self._renderer.cancel()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the listening socket, once started."""
        assert self._server is not None, "start() first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def renders(self) -> int:
        """/metrics renders done so far (a burst of scrapes shares them)."""
        return self._renderer.renders

    # -- HTTP/1.1 ----------------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        over_cap = (len(self._connections) >= self.limits.max_connections
                    and not self._evict_idle())
        self._connections.add(task)  # over the cap too, for at most LINGER_SECONDS
        try:
            if over_cap:
                self._faults.report("busy", "web server: %d connections, none idle: new "
                                    "ones get 503", len(self._connections) - 1)
                await self._refuse(reader, writer, 503, "too many connections")
                return
            keep_alive = True
            while keep_alive:
                keep_alive = await self._one_request(reader, writer, task)
        except (ConnectionError, asyncio.CancelledError, TimeoutError):
            pass
        except Exception:  # one broken connection must not end the server
            log.exception("web server: connection failed")
        finally:
            self._connections.discard(task)
            self._idle.pop(task, None)
            writer.close()

    def _evict_idle(self) -> bool:
        """Close the longest-idle connection to make room for a new one; False if none is idle.

        Why: idle keep-alive connections (or a client holding many open) would otherwise fill
        the cap and lock out the orchestrator's probes and Prometheus. A connection idle
        between requests may be closed at any time in HTTP/1.1; its client reconnects."""
        victim = next(iter(self._idle), None)
        if victim is None:
            return False
        del self._idle[victim]
        self._connections.discard(victim)  # its slot is free now; it closes at its next step
        victim.cancel()
        self.evicted += 1
        self._faults.report("evict", "web server: %d connections (the cap): closing the "
                            "longest-idle ones to admit new clients", len(self._connections) + 1)
        return True

    async def _one_request(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter, task: asyncio.Task[Any]) -> bool:
        """Read, answer one request; True when the connection stays open for another."""
        limits = self.limits
        self._idle[task] = None  # evictable until the request's first byte
        try:
            async with asyncio.timeout(limits.idle_timeout):
                first = await reader.read(1)
        except TimeoutError:
            return False  # idle: close quietly
        finally:
            self._idle.pop(task, None)
        if not first:
            return False  # the client closed
        try:
            async with asyncio.timeout(limits.header_timeout):
                head = first + await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            return await self._refuse(reader, writer, 408, "request head too slow")
        except asyncio.LimitOverrunError:
            return await self._refuse(reader, writer, 431,
                                      f"request head over {limits.max_header_bytes} bytes")
        except asyncio.IncompleteReadError:
            return False
        try:
            request, keep_alive = self._parse(head)
        except _BadRequest as exc:
            return await self._refuse(reader, writer, exc.status, str(exc))
        head_only = request.method == "HEAD"
        resolved = self._resolve(request.method, request.path)
        length = request.headers.get("content-length", "0")
        has_body = "transfer-encoding" in request.headers or length != "0"
        if isinstance(resolved, Response):
            if has_body:  # left unread: the connection cannot be reused
                return await self._refuse(reader, writer, resolved, head_only=head_only)
            await self._send(writer, resolved, keep_alive=keep_alive, head_only=head_only)
            return keep_alive
        if has_body:
            try:
                body = await self._read_body(reader, writer, request, resolved)
            except _BadRequest as exc:
                return await self._refuse(reader, writer, exc.status, str(exc))
            request = Request(request.method, request.path, request.query, request.headers, body)
        response = await self._call(resolved, request)
        await self._send(writer, response, keep_alive=keep_alive, head_only=head_only)
        return keep_alive

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      status: int | Response, message: str = "", *,
                      head_only: bool = False) -> bool:
        """Answer and close a connection whose input was not all read. Closing with unread
        input makes the kernel reset the connection, which can destroy the answer before
        the client reads it: so half-close, then discard input for a bounded time first."""
        response = status if isinstance(status, Response) else json_response(
            status, {"error": message})
        await self._send(writer, response, keep_alive=False, head_only=head_only)
        if writer.can_write_eof():
            writer.write_eof()
        try:
            async with asyncio.timeout(LINGER_SECONDS):
                discarded = 0
                while discarded < LINGER_BYTES and (chunk := await reader.read(65536)):
                    discarded += len(chunk)
        except (TimeoutError, ConnectionError):
            pass
        return False

    async def _read_body(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         request: Request, route: Route) -> bytes:
        if route.max_body == 0:
            raise _BadRequest(400, f"{request.method} {route.path} takes no request body")
        if "transfer-encoding" in request.headers:
            raise _BadRequest(411, "send the body with a Content-Length, not chunked")
        length = int(request.headers["content-length"])
        if length > route.max_body:
            raise _BadRequest(413, f"request body over {route.max_body} bytes")
        if request.headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for it on big bodies
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                return await reader.readexactly(length)
        except TimeoutError:
            raise _BadRequest(408, "request body too slow") from None

    async def _call(self, route: Route, request: Request) -> Response:
        try:
            result = route.handler(request)
            if inspect.isawaitable(result):
                result = await result
            return result
        except Exception:  # answer 500, keep serving
            log.exception("web server: %s %s failed", request.method, request.path)
            return json_response(500, {"error": "internal error"})

    def _parse(self, head: bytes) -> tuple[Request, bool]:
        lines = head[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[0] or not set(parts[0]) <= _TOKEN:
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            if version.startswith("HTTP/"):
                raise _BadRequest(505, "only HTTP/1.0 and HTTP/1.1 are served")
            raise _BadRequest(400, "malformed request line")
        if len(lines) - 1 > self.limits.max_headers:
            raise _BadRequest(431, f"more than {self.limits.max_headers} headers")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or not set(name) <= _TOKEN:
                raise _BadRequest(400, "malformed header line")
            name = name.lower()
            value = value.strip(" \t")
            if name in headers:
                if name in ("content-length", "host") and headers[name] != value:
                    raise _BadRequest(400, f"conflicting {name} headers")
                value = f"{headers[name]}, {value}"
            headers[name] = value
        if "content-length" in headers and not headers["content-length"].isdigit():
            raise _BadRequest(400, "malformed Content-Length")
        if target.startswith(("http://", "https://")):
            split = urlsplit(target)
            raw_path, query = split.path or "/", split.query
        elif target.startswith("/"):
            raw_path, _, query = target.partition("?")
        else:
            raise _BadRequest(400, "request target must be a path")
        path = unquote(raw_path)
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        return Request(method, path, query, headers), keep_alive

    async def _send(self, writer: asyncio.StreamWriter, response: Response, *,
                    keep_alive: bool, head_only: bool = False) -> None:
        status = HTTPStatus(response.status)
        lines = [f"HTTP/1.1 {status.value} {status.phrase}",
                 f"Content-Type: {response.content_type}",
                 f"Content-Length: {len(response.body)}"]
        if keep_alive:
            lines += ["Connection: keep-alive",
                      f"Keep-Alive: timeout={int(self.limits.idle_timeout)}"]
        else:
            lines.append("Connection: close")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = b"" if head_only else memoryview(response.body)
        # In slices, so that N slow readers of a 1 MB scrape buffer N x 64 KiB, not N MB.
        async with asyncio.timeout(self.limits.write_timeout):
            writer.write(head)
            for start in range(0, len(body), _WRITE_SLICE):
                writer.write(body[start:start + _WRITE_SLICE])
                await writer.drain()
            await writer.drain()


def check_route(check: CheckFunction, token: str | None) -> Handler:
    """POST /api/check: a bearer token (compared in constant time), a JSON body, the
    check's JSON answer. Without a configured token the route answers 503 and says how to
    enable it: a write-shaped route is never open by default."""
    expected = token.encode() if token else None

    def handler(request: Request) -> Response:
        if expected is None:
            return json_response(503, {"error": f"the check is disabled: set {CHECK_TOKEN_ENV} "
                                                "on the worker to enable POST /api/check"})
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode("utf-8", "replace"), expected):
            response = json_response(401, {"error": "missing or wrong bearer token"})
            response.headers.append(("WWW-Authenticate", 'Bearer realm="brandpulse"'))
            return response
        content_type = request.headers.get("content-type", "application/json")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return json_response(415, {"error": "send the draft as application/json"})
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            return json_response(400, {"error": f"bad JSON: {str(exc)[:200]}"})
        status, answer = check(body)
        return json_response(status, answer)

    return handler


class MetricsRenderer:
    """Renders the registry for /metrics off the server loop, in a bounded thread pool.

    Single flight with freshness: a scrape joins the render queued behind the one in flight
    (never one that started before it arrived), so a burst of N scrapes costs two renders
    instead of N, and every scrape still sees values from after its arrival. Honours
    `Accept` (OpenMetrics) and `Accept-Encoding: gzip` as prometheus_client's own server does.
    Call `render` on one event loop only.
    """

    def __init__(self, registry: CollectorRegistry, pool: ThreadPoolExecutor) -> None:
        self.registry = registry
        self.pool = pool
        self.renders = 0  # completed or failed, for tests and benchmarks
        self._text = TextRenderer()  # generate_latest's output, cheaper (streams/metrics/render.py)
        self._running: dict[tuple[str, bool, tuple[str, ...]], asyncio.Task[bytes]] = {}
        self._queued: dict[tuple[str, bool, tuple[str, ...]], asyncio.Task[bytes]] = {}

    async def render(self, accept: str, accept_encoding: str, names: tuple[str, ...] = ()
                     ) -> tuple[bytes, str, list[tuple[str, str]]]:
        """(body, content type, extra headers) for a scrape with these request headers;
        `names` restricts it to those metric families (all when empty)."""
        encoder, content_type = choose_encoder(accept)
        if encoder is generate_latest:  # the plain text format: same bytes, cheaper
            encoder = self._text
        compress = "gzip" in accept_encoding
        kind = (content_type, compress, names)
        queued = self._queued.get(kind)
        if queued is None:
            queued = asyncio.ensure_future(self._render_after(kind, encoder))
            self._queued[kind] = queued
        body = await asyncio.shield(queued)
        headers = [("Vary", "Accept, Accept-Encoding")]
        if compress:
            headers.append(("Content-Encoding", "gzip"))
        return body, content_type, headers

    async def _render_after(self, kind: tuple[str, bool, tuple[str, ...]],
                            encoder: Callable[[Any], bytes]) -> bytes:
        running = self._running.get(kind)
        if running is not None:
            await asyncio.wait([running])
        this = self._queued.pop(kind)
        self._running[kind] = this

        def render() -> bytes:
            text = encoder(self.registry.restricted_registry(kind[2]) if kind[2]
                           else self.registry)
            return gzip.compress(text, 6) if kind[1] else text
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, render)
        finally:
            self.renders += 1
            if self._running.get(kind) is this:
                del self._running[kind]

    def cancel(self) -> None:
        for task in (*self._queued.values(), *self._running.values()):
            task.cancel()
