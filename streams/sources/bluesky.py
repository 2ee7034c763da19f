"""Bluesky through Jetstream: the JSON firehose of posts and reposts, filtered to the brands.

Jetstream (`/subscribe`, v1 payload, kept wire-compatible by v2) sends one JSON text frame
per repository event: ``{"did", "time_us", "kind": "commit", "commit": {"operation",
"collection", "rkey", "cid", "record"}}`` (and `identity`/`account` kinds). We ask only
for `app.bsky.feed.post` and `app.bsky.feed.repost` and classify each frame:

- a post by a brand DID is a brand post (a reply when `record.reply` is set, except a
  thread continuation under the brand's own post, which is a broadcast);
- a post by anyone else is an audience message of each brand whose DID owns
  `reply.parent` (kind reply), else `reply.root` (kind comment: in the brand's thread), else
  a `app.bsky.richtext.facet#mention` feature (kind mention);
- a repost of a brand's post by anyone else is an audience share;
- everything else is skipped and counted by reason. Deletes and updates are skipped: the
  worker's state is append-only, the first version of a post is what the brand saw.

Ids are at:// URIs, so a brand reply's `in_reply_to` (the parent URI) is the id of the
audience message it answers. Audience replies can only be found by reading every post of
the network, so the filter rejects a stranger's frame without parsing it: every frame that
concerns a brand carries one of its DIDs verbatim (author, reply URIs, mention facets,
repost subject), and frames without one are counted and dropped (bench/bluesky_filter.py).

Resume: the `time_us` of the last frame read before a successful flush is saved in the
cursor file; a reconnect or restart asks for `?cursor=` that value minus REWIND_US
(Jetstream's advice for gapless playback; the replayed duplicates carry the same ids).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from streams.config import BrandsConfig, ConfigError, bluesky_dids, resolve_bluesky_handles
from streams.events import AudienceKind, Side, SocialEvent
from streams.ingest import Backoff, CursorFile, SinkUnavailable, SourceSink
from streams.wire import parse_rfc3339

log = logging.getLogger(__name__)

SOURCE = PLATFORM = "bluesky"
DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
MENTION_FACET = "app.bsky.richtext.facet#mention"
REWIND_US = 5_000_000  # resume this far before the saved cursor
FLUSH_INTERVAL = 1.0  # seconds between flush + cursor save while frames flow
MAX_BACKDATE_SECONDS = 600.0  # createdAt is kept within [time_us - this, time_us]
MAX_TEXT_CHARS = 10_000
MAX_FRAME_BYTES = 1 << 20

# Skip reasons (the `reason` label of brandpulse_source_skipped_total{source="bluesky"}).
UNRELATED = "unrelated"  # no brand DID in the frame: a stranger's post (nearly every frame)
NOT_COMMIT = "not_commit"  # identity / account events of a brand account
COLLECTION = "collection"  # a collection we did not ask for (likes, follows...)
DELETE = "delete"
UPDATE = "update"
BRAND_REPOST = "brand_repost"  # a brand reposting (its own or another's post)
NO_BRAND_LINK = "no_brand_link"  # a brand DID appears, but not as author/reply/mention/subject
SKIP_REASONS = (UNRELATED, NOT_COMMIT, COLLECTION, DELETE, UPDATE, BRAND_REPOST, NO_BRAND_LINK)
# Reject reasons.
MALFORMED_JSON = "malformed_json"
SCHEMA = "schema"

_DID = re.compile(r"did:(?:plc:[a-z2-7]{24}|web:[A-Za-z0-9.%:-]+)")
_SUBSTRING_LIMIT = 8  # up to this many brand DIDs, `in` tests; beyond, one regex scan


def _uri_did(uri: Any) -> str | None:
    """The repository DID of an at:// URI (`at://did:plc:x/app.bsky.feed.post/rkey`)."""
    if type(uri) is not str or not uri.startswith("at://"):
        return None
    end = uri.find("/", 5)
    return uri[5:] if end < 0 else uri[5:end]


def _lang(record: dict[str, Any]) -> str | None:
    langs = record.get("langs")
    if type(langs) is list and langs and type(langs[0]) is str:
        return langs[0].split("-")[0].lower()[:8] or None
    return None


class Classified:
    """What one frame gave: events to emit, or the reason it was skipped or rejected."""

    __slots__ = ("events", "rejected", "skipped", "time_us")

    def __init__(self, time_us: int | None, events: list[SocialEvent] | None = None,
                 skipped: str | None = None, rejected: tuple[str, str] | None = None) -> None:
        self.time_us = time_us
        self.events = events or []
        self.skipped = skipped
        self.rejected = rejected


class BlueskyFilter:
    """Frame -> Classified, pure: the whole classification, testable without a network."""

    def __init__(self, brands: BrandsConfig) -> None:
        self.brand_of: dict[str, str] = {}
        for brand in brands:
            for did in bluesky_dids(brand):
                self.brand_of[did] = brand.name
        self._dids = tuple(self.brand_of)
        self._scan = len(self._dids) > _SUBSTRING_LIMIT

    def concerns_a_brand(self, frame: str) -> bool:
        """Does a brand DID appear in the raw frame? The cheap test run on every frame."""
        if self._scan:
            brand_of = self.brand_of
            return any(d in brand_of for d in _DID.findall(frame))
        return any(d in frame for d in self._dids)

    def classify(self, frame: str | bytes) -> Classified:
        if isinstance(frame, bytes):
            frame = frame.decode("utf-8", errors="replace")
        if not self.concerns_a_brand(frame):
            return Classified(None, skipped=UNRELATED)
        try:
            data = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            return Classified(None, rejected=(MALFORMED_JSON, str(exc)[:200]))
        if type(data) is not dict:
            return Classified(None, rejected=(SCHEMA, "frame is not a JSON object"))
        time_us = data.get("time_us")
        if type(time_us) is not int or time_us <= 0:
            return Classified(None, rejected=(SCHEMA, "frame without an integer time_us"))
        if data.get("kind") != "commit":
            return Classified(time_us, skipped=NOT_COMMIT)
        did, commit = data.get("did"), data.get("commit")
        if type(did) is not str or type(commit) is not dict:
            return Classified(time_us, rejected=(SCHEMA, "commit frame without did/commit"))
        collection, operation = commit.get("collection"), commit.get("operation")
        if collection not in (POST, REPOST):
            return Classified(time_us, skipped=COLLECTION)
        if operation == "delete":
            return Classified(time_us, skipped=DELETE)
        if operation == "update":
            return Classified(time_us, skipped=UPDATE)
        record, rkey = commit.get("record"), commit.get("rkey")
        if operation != "create" or type(record) is not dict or type(rkey) is not str \
                or not rkey:
            return Classified(time_us, rejected=(SCHEMA, f"{did}: create without record/rkey"))
        uri = f"at://{did}/{collection}/{rkey}"
        frame_time = time_us / 1e6
        created = frame_time
        raw_created = record.get("createdAt")
        if type(raw_created) is str:
            try:
                created = parse_rfc3339(raw_created)
            except ValueError:
                created = frame_time
        # createdAt is written by the client: bound it by the relay's time of the frame.
        created = min(max(created, frame_time - MAX_BACKDATE_SECONDS), frame_time)
        author_brand = self.brand_of.get(did.lower())
        if collection == REPOST:
            return self._repost(time_us, uri, did, author_brand, record, created)
        return self._post(time_us, uri, did, author_brand, record, created)

    def _post(self, time_us: int, uri: str, did: str, author_brand: str | None,
              record: dict[str, Any], created: float) -> Classified:
        text = record.get("text", "")
        if type(text) is not str:
            return Classified(time_us, rejected=(SCHEMA, f"{uri}: text is not a string"))
        text = text[:MAX_TEXT_CHARS]
        lang = _lang(record)
        parent_uri = root_uri = None
        reply = record.get("reply")
        if reply is not None:
            if type(reply) is not dict:
                return Classified(time_us, rejected=(SCHEMA, f"{uri}: reply is not an object"))
            parent, root = reply.get("parent"), reply.get("root")
            parent_uri = parent.get("uri") if type(parent) is dict else None
            root_uri = root.get("uri") if type(root) is dict else None
            if type(parent_uri) is not str:
                return Classified(time_us, rejected=(SCHEMA, f"{uri}: reply without parent"))
        parent_brand = self.brand_of.get((_uri_did(parent_uri) or "").lower())
        root_brand = self.brand_of.get((_uri_did(root_uri) or "").lower())
        events: list[SocialEvent] = []
        if author_brand is not None:
            # A thread continuation under the brand's own post answers nobody: a broadcast.
            in_reply_to = None if parent_brand == author_brand else parent_uri
            events.append(SocialEvent(Side.BRAND, uri, author_brand, PLATFORM, did, text,
                                      created, in_reply_to, None, lang))
        # Audience side, for every other brand the post addresses (a brand answering another
        # brand is in that brand's audience).
        addressed: dict[str, tuple[AudienceKind, str | None]] = {}
        if parent_brand is not None:
            addressed[parent_brand] = (AudienceKind.REPLY, parent_uri)
        if root_brand is not None and root_brand not in addressed:
            addressed[root_brand] = (AudienceKind.COMMENT, parent_uri)
        for brand in self._mentioned(record):
            addressed.setdefault(brand, (AudienceKind.MENTION, parent_uri))
        for brand, (kind, in_reply_to) in addressed.items():
            if brand != author_brand:
                events.append(SocialEvent(Side.AUDIENCE, uri, brand, PLATFORM, did, text,
                                          created, in_reply_to, kind, lang))
        if not events:
            return Classified(time_us, skipped=NO_BRAND_LINK)
        return Classified(time_us, events)

    def _mentioned(self, record: dict[str, Any]) -> Iterable[str]:
        facets = record.get("facets")
        if type(facets) is not list:
            return ()
        found: list[str] = []
        for facet in facets[:100]:
            features = facet.get("features") if type(facet) is dict else None
            if type(features) is not list:
                continue
            for feature in features[:20]:
                if (type(feature) is dict and feature.get("$type") == MENTION_FACET
                        and type(feature.get("did")) is str):
                    brand = self.brand_of.get(feature["did"].lower())
                    if brand is not None and brand not in found:
                        found.append(brand)
        return found

    def _repost(self, time_us: int, uri: str, did: str, author_brand: str | None,
                record: dict[str, Any], created: float) -> Classified:
        subject = record.get("subject")
        subject_uri = subject.get("uri") if type(subject) is dict else None
        if type(subject_uri) is not str:
            return Classified(time_us, rejected=(SCHEMA, f"{uri}: repost without subject"))
        if author_brand is not None:
            return Classified(time_us, skipped=BRAND_REPOST)
        brand = self.brand_of.get((_uri_did(subject_uri) or "").lower())
        if brand is None:
            return Classified(time_us, skipped=NO_BRAND_LINK)
        return Classified(time_us, [SocialEvent(
            Side.AUDIENCE, uri, brand, PLATFORM, did, "", created, None, AudienceKind.MENTION,
            None, is_share=True)])


def frame_time_us(frame: str) -> int | None:
    """`time_us` of a raw frame (parsed only when the cursor is saved, not per frame)."""
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    value = data.get("time_us") if type(data) is dict else None
    return value if type(value) is int and value > 0 else None


def subscribe_url(base: str, cursor: int | None) -> str:
    query = [("wantedCollections", POST), ("wantedCollections", REPOST)]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    return f"{base}{'&' if '?' in base else '?'}{urlencode(query)}"


class BlueskyConnector:
    """Jetstream websocket -> SourceSink, with reconnects, backoff and a persisted cursor."""

    source = SOURCE

    def __init__(self, brands: BrandsConfig, url: str = DEFAULT_URL,
                 cursor: CursorFile | None = None, backoff: Backoff | None = None,
                 flush_interval: float = FLUSH_INTERVAL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.filter = BlueskyFilter(brands)
        self.url = url
        self.cursor = cursor
        self.backoff = backoff or Backoff(initial=1.0, maximum=60.0, jitter=0.2)
        self.flush_interval = flush_interval
        self.clock = clock
        self._last_frame: str | None = None  # newest frame read (its time_us is the position)
        self._saved: int | None = None  # time_us saved (or loaded): resume point
        self.frames = 0
        self.connections = 0

    def _load_cursor(self) -> None:
        if self.cursor is None:
            return
        value = self.cursor.load()
        if value is None:
            return
        if not value.isdigit():
            log.warning("bluesky: cursor file %s holds %r, not a time_us: starting live",
                        self.cursor.path, value[:40])
            return
        self._saved = int(value)

    async def _checkpoint(self, sink: SourceSink) -> None:
        """Flush, then save the position of the newest frame read before the flush."""
        frame = self._last_frame
        await sink.flush()
        position = frame_time_us(frame) if frame is not None else None
        if position is None or (self._saved is not None and position <= self._saved):
            return
        self._saved = position
        progress = getattr(sink, "progress", None)
        if progress is not None:
            progress(position / 1e6)
        if self.cursor is not None:
            self.cursor.save(str(position))

    async def handle(self, frame: str, sink: SourceSink) -> None:
        """Classify one frame and hand the result to the sink."""
        self.frames += 1
        result = self.filter.classify(frame)
        if result.skipped is not None:
            sink.skipped(result.skipped)
        elif result.rejected is not None:
            sink.rejected(*result.rejected)
        for event in result.events:
            await sink.emit(event)
        self._last_frame = frame

    async def run(self, sink: SourceSink, stop: asyncio.Event) -> None:
        import aiohttp

        self._load_cursor()
        timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not stop.is_set():
                resume = None if self._saved is None else max(0, self._saved - REWIND_US)
                url = subscribe_url(self.url, resume)
                try:
                    async with session.ws_connect(url, heartbeat=30.0,
                                                  max_msg_size=MAX_FRAME_BYTES) as ws:
                        self.connections += 1
                        sink.connected(True)
                        if self.connections > 1:
                            sink.reconnected()
                        log.info("bluesky: connected to %s", url)
                        await self._read(ws, sink, stop)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("bluesky: connection to %s failed: %s", self.url, exc)
                except SinkUnavailable as exc:
                    log.warning("bluesky: sink unavailable (%s): reconnecting from the last "
                                "saved cursor", exc)
                    self._last_frame = None
                finally:
                    sink.connected(False)
                try:
                    await self._checkpoint(sink)
                except SinkUnavailable as exc:
                    log.warning("bluesky: flush failed (%s): resuming from the saved cursor",
                                exc)
                    self._last_frame = None
                    if stop.is_set():
                        raise
                if stop.is_set() or await self.backoff.wait(stop):
                    return

    async def _read(self, ws: Any, sink: SourceSink, stop: asyncio.Event) -> None:
        """Frames until the server closes or `stop` is set; checkpoint every flush_interval."""
        import aiohttp

        stopping = asyncio.ensure_future(stop.wait())
        receive: asyncio.Future[Any] | None = None  # kept across timeouts, never cancelled
        last_checkpoint = self.clock()
        try:
            while True:
                if receive is None:
                    receive = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receive, stopping}, timeout=self.flush_interval,
                                             return_when=asyncio.FIRST_COMPLETED)
                if receive in done:
                    message, receive = receive.result(), None
                    if message.type is aiohttp.WSMsgType.TEXT:
                        await self.handle(message.data, sink)
                        self.backoff.reset()
                    elif message.type is aiohttp.WSMsgType.BINARY:
                        sink.rejected(SCHEMA, "binary frame (compression is not requested)")
                    elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                          aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        return
                if stop.is_set():
                    return
                if self.clock() - last_checkpoint >= self.flush_interval:
                    last_checkpoint = self.clock()  # a quiet stream still saves its position
                    await self._checkpoint(sink)
        finally:
            for task in (receive, stopping):
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in (receive, stopping) if t is not None),
                                 return_exceptions=True)


def build_connector(args: argparse.Namespace, brands: BrandsConfig) -> BlueskyConnector:
    """The CLI's factory: resolves handles to DIDs, checks there is a DID to follow."""
    url = args.url or DEFAULT_URL
    if urlsplit(url).scheme not in ("ws", "wss"):
        raise ConfigError(f"url: {url!r} is not a websocket URL. Fix: write e.g. {DEFAULT_URL}")
    resolver = getattr(args, "resolver", None) or "https://bsky.social"
    brands, warnings = resolve_bluesky_handles(brands, resolver)
    for warning in warnings:
        log.warning("bluesky: %s", warning)
    if not any(bluesky_dids(b) for b in brands):
        raise ConfigError("brands: no brand has a bluesky handle. Fix: add "
                          'handles = { bluesky = ["did:plc:..."] } to the brands to follow')
    cursor = CursorFile(args.cursor_file) if getattr(args, "cursor_file", None) else None
    return BlueskyConnector(brands, url, cursor)
