"""`brandpulse ingest webhook`: Meta (Facebook Page, Instagram) and generic signed webhooks.

One aiohttp.web server with three routes:

* ``GET /meta``  — Meta's subscription handshake (``hub.verify_token`` → echo ``hub.challenge``);
* ``POST /meta`` — Page ``feed`` and Instagram ``comments``/``mentions`` notifications,
  signed ``X-Hub-Signature-256: sha256=HMAC(app secret, raw body)``;
* ``POST /events`` — our own JSONL (docs/sources.md), one or many lines, signed the same way
  with ``BRANDPULSE_WEBHOOK_SECRET``, for helpdesks, scrapers and exports.

A request is acknowledged (200) only once ``sink.flush()`` returned, so an event is never
acknowledged before the broker (or file) has it: while the sink is unavailable the answer is
503 and the sender retries. Retries are harmless because every event carries its platform id
and the worker deduplicates ids; a small bounded LRU here only avoids re-producing what was
already flushed; an id being delivered by one request is waited for by a concurrent one
carrying it, so it is written once. The Meta payload mapping lives in `streams.sources.meta`
(pure, tested without a server); this module is the HTTP side.

The open network: a request head must arrive within HEAD_TIMEOUT_SECONDS and a body within
BODY_TIMEOUT_SECONDS (slow-loris clients are closed), at most `max_connections` are open at
once (more are answered 503 and closed, before the process runs out of descriptors), and a
client that disconnects mid-body is counted, not logged with a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import os
import resource
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from streams.config import BrandsConfig, ConfigError, is_listen_host
from streams.events import (
    MAX_FUTURE_SKEW_SECONDS,
    RecordedEvent,
    Rejection,
    RejectReason,
    beyond_skew,
)
from streams.plumbing.ratelog import AcceptExhaustion
from streams.sources.jsonl import parse_line
from streams.sources.meta import MetaAccounts, Reject, Skip, parse_meta_payload

if TYPE_CHECKING:
    from streams.sources.base import SourceSink

log = logging.getLogger(__name__)

SOURCE = "webhook"
#: Meta batches up to 1,000 changes per POST: ~270 bytes each for a short comment (measured),
#: but long texts with non-ASCII escaped as \uXXXX can reach kilobytes. A batch refused with
#: 413 would be retried and refused until Meta gives up, so the bound leaves room.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: Ids already flushed, remembered to avoid re-producing Meta's retries (bounded).
DEFAULT_RECENT_IDS = 10_000
MAX_CHALLENGE_CHARS = 1024
#: How long `run` waits for in-flight requests once `stop` is set (SIGTERM: exit in 5 s).
SHUTDOWN_TIMEOUT_SECONDS = 2.0
#: A request head (and an idle keep-alive connection) gets this long, then is closed.
HEAD_TIMEOUT_SECONDS = 10.0
#: A request body gets this long to arrive whole (4 MiB at 1 Mbit/s takes 34 s: slow
#: senders are still served, a body that stalls is not waited for).
BODY_TIMEOUT_SECONDS = 60.0
#: After an answer sent before the body was read whole (413, 408), what is left of it is
#: read and dropped for at most this long, so the client sees the answer; then closed.
LINGER_SECONDS = 1.0
#: Open connections at most (and at most half the descriptor limit): beyond, 503 and close.
DEFAULT_MAX_CONNECTIONS = 512

SIGNATURE_HEADER = "X-Hub-Signature-256"
ENV_VERIFY_TOKEN = "META_VERIFY_TOKEN"
ENV_APP_SECRET = "META_APP_SECRET"
ENV_EVENTS_SECRET = "BRANDPULSE_WEBHOOK_SECRET"


# --- Signatures -------------------------------------------------------------------------

def sign(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value of a body (what Meta sends; used by tests and senders)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of `sha256=<hex>` against the raw body."""
    if not header or not header.startswith("sha256="):
        return False
    try:
        given = header.encode("ascii").lower()
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(secret, body).encode("ascii"), given)


# --- The server -------------------------------------------------------------------------

class _RecentIds:
    """A bounded LRU of (platform, id) already flushed: fewer duplicates, never unbounded."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._ids: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._ids

    def add_all(self, keys: Iterable[tuple[str, str]]) -> None:
        if self._size <= 0:
            return
        for key in keys:
            self._ids[key] = None
            self._ids.move_to_end(key)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


class WebhookConnector:
    """The webhook server as a Connector: `run(sink, stop)` serves until `stop` is set."""

    source = SOURCE
    help = "Meta webhooks and signed JSONL posts"
    metrics_port = 9103

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--listen", required=True, metavar="HOST:PORT",
                            help="address the webhook server listens on")

    @classmethod
    def from_args(cls, args: argparse.Namespace, brands: BrandsConfig,
                  env: Mapping[str, str] | None = None) -> WebhookConnector:
        """From `args.listen` and the secrets in the environment."""
        env = os.environ if env is None else env
        host, port = parse_listen(getattr(args, "listen", None) or "")
        token = env.get(ENV_VERIFY_TOKEN) or None
        secret = env.get(ENV_APP_SECRET) or None
        events_secret = env.get(ENV_EVENTS_SECRET) or None
        if token and not secret:
            raise ConfigError(f"{ENV_APP_SECRET}: unset while {ENV_VERIFY_TOKEN} is set, so "
                              "Meta notifications could not be verified. Fix: set it to the "
                              "app secret (App Dashboard > Settings > Basic)")
        connector = cls(brands, host, port, meta_verify_token=token,
                        meta_app_secret=secret, events_secret=events_secret)
        if secret and not (connector.accounts.pages or connector.accounts.instagram):
            log.warning("webhook: no brand has facebook/instagram handles: every Meta "
                        "notification will be rejected as unknown_account")
        return connector

    def __init__(
        self, brands: BrandsConfig, host: str = "127.0.0.1", port: int = 8080, *,
        meta_verify_token: str | None = None, meta_app_secret: str | None = None,
        events_secret: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        recent_ids: int = DEFAULT_RECENT_IDS, clock: Callable[[], float] = time.time,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        head_timeout: float = HEAD_TIMEOUT_SECONDS, body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self._check_secrets(meta_app_secret, events_secret)
        self.brands = brands
        self.accounts = MetaAccounts.from_brands(brands)
        self.host, self.port = host, port
        self._verify_token = meta_verify_token or None
        self._app_secret = meta_app_secret or None
        self._events_secret = events_secret or None
        self._max_body = max_body_bytes
        self._recent = _RecentIds(recent_ids)
        self._delivering: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._clock = clock
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.max_connections = max(1, min(max_connections, soft // 2)) \
            if soft != resource.RLIM_INFINITY else max_connections
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.refused_connections = 0
        #: accept() failing for want of descriptors: logged once, then summarised.
        self.exhaustion = AcceptExhaustion(log, "webhook")
        self._sink: SourceSink | None = None
        #: Set once the socket listens; `port` then holds the bound port (useful with 0).
        self.started = asyncio.Event()

    @staticmethod
    def _check_secrets(meta_app_secret: str | None, events_secret: str | None) -> None:
        """Refuse to start with no route to serve (a subclass serving its own routes, such
        as streams/sources/chatwoot.py, checks its own secret instead)."""
        if not (meta_app_secret or events_secret):
            raise ConfigError(f"{ENV_APP_SECRET}/{ENV_EVENTS_SECRET}: neither is set, so no "
                              "webhook route would accept anything. Fix: set at least one")

    # routes -----------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self._max_body)
        if self._app_secret:
            app.router.add_get("/meta", self._meta_handshake, allow_head=False)
            app.router.add_post("/meta", self._meta_post)
        if self._events_secret:
            app.router.add_post("/events", self._events_post)
        return app

    def describe_routes(self) -> list[str]:
        """One line per route for the startup log, saying which are off and why."""
        lines = []
        if self._app_secret:
            handshake = "" if self._verify_token else (
                f" (GET handshake answers 403: {ENV_VERIFY_TOKEN} unset)")
            lines.append(f"POST /meta enabled{handshake}")
        else:
            lines.append(f"/meta disabled: {ENV_APP_SECRET} unset")
        lines.append("POST /events enabled" if self._events_secret
                     else f"/events disabled: {ENV_EVENTS_SECRET} unset")
        return lines

    def _protocol(self, server: web.Server) -> asyncio.BaseProtocol:
        """aiohttp's protocol for a new connection, or a 503-and-close one over the cap."""
        if len(server.connections) < self.max_connections:
            return server()
        self.refused_connections += 1
        self.sink.rejected(Reject.TOO_MANY_CONNECTIONS, f"{self.max_connections} connections "
                           "open: a new one answered 503 and closed")
        return _Refuse()

    async def run(self, sink: SourceSink, stop: asyncio.Event) -> None:
        self._sink = sink
        # keepalive_timeout also bounds the wait for a head: aiohttp closes a connection
        # whose request head is not complete when it expires (the first one included).
        runner = web.AppRunner(self.make_app(), access_log=None,
                               shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
                               keepalive_timeout=self.head_timeout, auto_decompress=False,
                               lingering_time=LINGER_SECONDS)
        await runner.setup()
        listening: asyncio.Server | None = None
        loop = asyncio.get_running_loop()
        self.exhaustion.install(loop)
        try:
            server = runner.server
            assert server is not None
            listening = await loop.create_server(
                lambda: self._protocol(server), self.host, self.port, reuse_address=True)
            self.port = int(listening.sockets[0].getsockname()[1])
            for line in self.describe_routes():
                log.info("webhook: %s", line)
            log.info("webhook: listening on %s:%d", self.host, self.port)
            sink.connected(True)
            self.started.set()
            await stop.wait()
        finally:
            # Stops accepting, lets in-flight requests finish (bounded), then closes.
            if listening is not None:
                listening.close()
            await runner.cleanup()
            self.exhaustion.uninstall(loop)
            sink.connected(False)

    # handlers ---------------------------------------------------------------------------

    @property
    def sink(self) -> SourceSink:
        assert self._sink is not None, "run() sets the sink before serving"
        return self._sink

    async def _meta_handshake(self, request: web.Request) -> web.Response:
        query = request.query
        token = query.get("hub.verify_token", "")
        challenge = query.get("hub.challenge", "")
        ok = (self._verify_token is not None and query.get("hub.mode") == "subscribe"
              and hmac.compare_digest(token.encode("utf-8"),
                                      self._verify_token.encode("utf-8")))
        if not ok:
            self.sink.rejected(Reject.BAD_VERIFY_TOKEN, "GET /meta: wrong hub.mode or "
                               "hub.verify_token")
            return web.Response(status=403, text="forbidden\n")
        if not challenge or len(challenge) > MAX_CHALLENGE_CHARS:
            return web.Response(status=400, text="hub.challenge missing or too long\n")
        return web.Response(status=200, text=challenge, content_type="text/plain")

    async def _signed_body(self, request: web.Request, secret: str) -> bytes | web.Response:
        """The raw body if its signature is right; the error response otherwise."""
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            self.sink.rejected(Reject.BAD_SIGNATURE, f"{request.path}: no {SIGNATURE_HEADER}")
            return _json(401, {"error": f"missing {SIGNATURE_HEADER}"})
        return await self._verified_body(request, lambda body: signature_ok(secret, body, header))

    async def _verified_body(self, request: web.Request, verify: Callable[[bytes], bool]
                             ) -> bytes | web.Response:
        """The raw body, read within the size bound and BODY_TIMEOUT_SECONDS, if `verify`
        accepts the bytes received (decompressed after the check); the error response
        otherwise (401 on a failed check). Shared by every signed route of the sources."""
        if request.content_length is not None and request.content_length > self._max_body:
            return self._too_large(request, request.content_length)
        try:
            body = await asyncio.wait_for(request.read(), self.body_timeout)
        except web.HTTPRequestEntityTooLarge:
            return self._too_large(request, None)
        except TimeoutError:
            self.sink.rejected(Reject.SLOW_BODY, f"{request.path}: body not complete within "
                               f"{self.body_timeout:g} s")
            return _closing(_json(408, {"error": "body too slow"}))
        except (ConnectionResetError, asyncio.IncompleteReadError) as exc:
            self.sink.rejected(Reject.INCOMPLETE_BODY, f"{request.path}: {exc or 'reset'}")
            return _closing(_json(400, {"error": "incomplete body"}))
        # The signature covers the bytes received (aiohttp does not decompress them here).
        if not verify(body):
            self.sink.rejected(Reject.BAD_SIGNATURE, f"{request.path}: signature mismatch")
            return _json(401, {"error": "bad signature"})
        encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("gzip", "deflate"):
            inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
            try:
                body = inflater.decompress(body, self._max_body + 1)
            except zlib.error as exc:
                self.sink.rejected(Reject.MALFORMED_JSON, f"{request.path}: {encoding}: {exc}")
                return _json(400, {"error": f"bad {encoding} body"})
            if len(body) > self._max_body or inflater.unconsumed_tail:
                return self._too_large(request, None)
        elif encoding != "identity":
            return _json(415, {"error": f"Content-Encoding {encoding[:40]} not supported"})
        return body

    def _too_large(self, request: web.Request, size: int | None) -> web.Response:
        shown = f"{size} bytes" if size is not None else "body"
        self.sink.rejected(Reject.OVERSIZED, f"{request.path}: {shown} > limit {self._max_body}")
        return _json(413, {"error": f"body larger than {self._max_body} bytes"})

    async def _meta_post(self, request: web.Request) -> web.Response:
        assert self._app_secret is not None
        body = await self._signed_body(request, self._app_secret)
        if isinstance(body, web.Response):
            return body
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self.sink.rejected(Reject.MALFORMED_JSON, f"/meta: {str(exc)[:200]}")
            return _json(400, {"error": "malformed JSON"})
        outcome = parse_meta_payload(payload, self.accounts, self._clock())
        if isinstance(outcome, Rejection):
            self.sink.rejected(outcome.reason.value, f"/meta: {outcome.detail}")
            return _json(400, {"error": outcome.detail})
        for reason, detail in outcome.rejected:
            self.sink.rejected(reason, f"/meta: {detail}")
        return await self._deliver(outcome.events, outcome.skipped, {
            "rejected": len(outcome.rejected)})

    async def _events_post(self, request: web.Request) -> web.Response:
        assert self._events_secret is not None
        body = await self._signed_body(request, self._events_secret)
        if isinstance(body, web.Response):
            return body
        now = self._clock()
        events: list[RecordedEvent] = []
        bad: list[dict[str, Any]] = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            result = parse_line(line, self.brands)
            if not isinstance(result, Rejection) and beyond_skew(result.created_at, now):
                result = Rejection(RejectReason.FUTURE_TIMESTAMP, "created_at beyond the "
                                   f"wall clock + {MAX_FUTURE_SKEW_SECONDS:.0f} s")
            if isinstance(result, Rejection):
                reason = result.reason.value
                self.sink.rejected(reason, f"/events line {number}: {result.detail}")
                bad.append({"line": number, "reason": reason, "detail": result.detail})
            else:
                events.append(result)
        if bad and not events:
            return _json(400, {"accepted": 0, "rejected": bad})
        return await self._deliver(events, [], {"rejected": bad})

    async def _deliver(self, events: Sequence[RecordedEvent], skipped: list[str],
                       report: dict[str, Any]) -> web.Response:
        """Emit, flush, and only then acknowledge; 503 while the sink cannot take them."""
        from streams.sources.base import SinkUnavailable

        sink = self.sink
        keys = {(event.platform, event.id) for event in events}
        while busy := {self._delivering[k] for k in keys if k in self._delivering}:
            await asyncio.wait(busy)  # a concurrent request delivers some of these ids
        fresh: list[RecordedEvent] = []
        seen: set[tuple[str, str]] = set()
        for event in events:
            key = (event.platform, event.id)
            if key in self._recent or key in seen:
                skipped.append(Skip.DUPLICATE)
                continue
            seen.add(key)
            fresh.append(event)
        delivered = asyncio.get_running_loop().create_future()
        self._delivering.update(dict.fromkeys(seen, delivered))
        try:
            for event in fresh:
                await sink.emit(event)
            await sink.flush()
        except SinkUnavailable as exc:
            log.warning("webhook: sink unavailable, answering 503: %s", exc)
            return _json(503, {"error": "broker unavailable, retry later"},
                         headers={"Retry-After": "5"})
        else:
            self._recent.add_all(seen)
        finally:
            for key in seen:
                del self._delivering[key]
            delivered.set_result(None)
        for reason in skipped:
            sink.skipped(reason)
        return _json(200, {"accepted": len(fresh), "skipped": len(skipped), **report})


def _json(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None,
          ) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body),
                        content_type="application/json", headers=headers)


def _closing(response: web.Response) -> web.Response:
    """The answer, then the connection is closed (after LINGER_SECONDS at most)."""
    response.force_close()
    return response


class _Refuse(asyncio.Protocol):
    """A connection over the cap: 503, closed at once, its descriptor freed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                        b"Retry-After: 5\r\nContent-Length: 0\r\n\r\n")
        transport.close()


# --- CLI glue ---------------------------------------------------------------------------

def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:8080`) to (host, port); ConfigError naming the fix."""
    host, sep, port_text = value.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535 \
            or not is_listen_host(host):
        raise ConfigError(f"--listen: {value!r} is not HOST:PORT. Fix: e.g. --listen "
                          "127.0.0.1:8080 behind a TLS reverse proxy")
    return host, int(port_text)
