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

Hostile input never stalls the stream: a frame over the record bound or of invalid UTF-8 is
rejected (counted, logged rate-limited) and the cursor moves past it, so a reconnect never
replays into it; a frame too large even to be read closes the connection, and when two
connections in a row end on it at the same position the next one resumes a little after
it (POISON_STEP_US, counted as `skipped_window`). A `time_us` beyond the wall clock never
becomes the cursor. Every network wait has a deadline (`Deadlines`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from streams.config import BLUESKY_DID, BrandConfig, BrandsConfig, ConfigError
from streams.events import MAX_FUTURE_SKEW_SECONDS, AudienceKind, Side, SocialEvent, beyond_skew
from streams.plumbing.ratelog import RateLimitedLog
from streams.sources.base import (
    MAX_RECORD_BYTES,
    MAX_TEXT_CHARS,
    OVERSIZED,
    Backoff,
    CursorFile,
    Deadlines,
    SinkUnavailable,
    SourceSink,
    Stopped,
    add_cursor_argument,
    cursor_path,
    wait_for_peer,
)
from streams.wire import parse_rfc3339

log = logging.getLogger(__name__)

SOURCE = PLATFORM = "bluesky"
DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
#: The service resolving the brands file's handles to DIDs when the source starts.
DEFAULT_BLUESKY_RESOLVER = "https://bsky.social"
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
MENTION_FACET = "app.bsky.richtext.facet#mention"
REWIND_US = 5_000_000  # resume this far before the saved cursor
FLUSH_INTERVAL = 1.0  # seconds between flush + cursor save while frames flow
MAX_BACKDATE_SECONDS = 600.0  # createdAt is kept within [time_us - this, time_us]
#: What the websocket reads at most: frames between MAX_RECORD_BYTES and this are read
#: whole, so their time_us is known and the cursor moves past them; a larger one ends the
#: connection (the poison-frame fallback below). Memory per frame stays bounded.
MAX_WIRE_FRAME_BYTES = 16 * MAX_RECORD_BYTES
#: After two connections in a row ended on an unreadable frame at one position, resume
#: this far after it, doubling on each further repeat (the frame may be later than the
#: step): the frames of that window are lost, counted and logged, instead of reading the
#: same frame forever. The firehose carries a frame every few milliseconds.
POISON_STEP_US = 1_000

# Skip reasons (the `reason` label of brandpulse_source_skipped_total{source="bluesky"}).
UNRELATED = "unrelated"  # no brand DID in the frame: a stranger's post (nearly every frame)
NOT_COMMIT = "not_commit"  # identity / account events of a brand account
COLLECTION = "collection"  # a collection we did not ask for (likes, follows...)
DELETE = "delete"
UPDATE = "update"
BRAND_REPOST = "brand_repost"  # a brand reposting (its own or another's post)
NO_BRAND_LINK = "no_brand_link"  # a brand DID appears, but not as author/reply/mention/subject
SKIP_REASONS = (UNRELATED, NOT_COMMIT, COLLECTION, DELETE, UPDATE, BRAND_REPOST, NO_BRAND_LINK)
SKIPPED_WINDOW = "skipped_window"  # resumed past an unreadable frame (see POISON_STEP_US)
# Reject reasons.
MALFORMED_JSON = "malformed_json"
SCHEMA = "schema"
INVALID_UTF8 = "invalid_utf8"
FUTURE_CURSOR = "future_time_us"  # a frame time beyond the wall clock: not a cursor
# Websocket close codes of a frame aiohttp could not read (RFC 6455 section 7.4.1).
_UNREADABLE_FRAME_CODES = frozenset({1002, 1007, 1009})
_TIME_US = re.compile(rb'"time_us":\s*(\d{1,19})')
_TIME_US_TEXT = re.compile(r'"time_us":\s*(\d{1,19})')

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


def frame_time_us(frame: str | bytes) -> int | None:
    """`time_us` of a raw frame without parsing it (every frame is read, few are parsed):
    the first `"time_us":` key, which Jetstream writes before the record (a key inside a
    string cannot match: its quotes are escaped). Also for oversized or non-UTF-8 frames."""
    found = (_TIME_US.search(frame) if isinstance(frame, bytes)
             else _TIME_US_TEXT.search(frame))
    return int(found.group(1)) if found is not None and int(found.group(1)) > 0 else None


def bluesky_dids(brand: BrandConfig) -> frozenset[str]:
    """The brand's Bluesky accounts the connector can match: its DIDs (handles need resolving)."""
    return frozenset(h for h in brand.handles.get("bluesky", ()) if BLUESKY_DID.fullmatch(h))


def resolve_bluesky_handles(brands: BrandsConfig, service: str = DEFAULT_BLUESKY_RESOLVER,
                            timeout: float = 5.0) -> tuple[BrandsConfig, list[str]]:
    """Resolve every Bluesky handle of the brands file to its DID (com.atproto.identity.
    resolveHandle on `service`), at start: the firehose names accounts by DID only.

    Returns the brands with each resolved DID added next to its handle (the handle stays:
    the worker recognises "@acme.bsky.social" in mention text by it), and warnings. A handle
    that cannot be resolved is an error only for a brand left without any DID; a brand that
    also lists its DID just gets a warning, so a file with both works offline.
    """
    import urllib.error
    import urllib.request

    warnings: list[str] = []
    changed: dict[str, BrandConfig] = {}
    for brand in brands:
        names = brand.handles.get("bluesky", frozenset())
        handles = sorted(n for n in names if not BLUESKY_DID.fullmatch(n))
        if not handles:
            continue
        dids = set(bluesky_dids(brand))
        for handle in handles:
            url = (f"{service.rstrip('/')}/xrpc/com.atproto.identity.resolveHandle?"
                   + urlencode({"handle": handle}))
            problem = ""
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    did = orjson.loads(response.read(64 * 1024)).get("did")
                if isinstance(did, str) and BLUESKY_DID.fullmatch(did.lower()):
                    dids.add(did.lower())
                    continue
                problem = "the resolver answered without a valid DID"
            except urllib.error.HTTPError as exc:
                problem = f"the resolver answered HTTP {exc.code}"
            except (OSError, ValueError, AttributeError) as exc:
                problem = f"cannot reach {service} ({getattr(exc, 'reason', exc)})"
            where = f"brand {brand.name!r}: handles.bluesky {handle!r}"
            if not bluesky_dids(brand):
                raise ConfigError(f"{where}: cannot resolve to a DID: {problem}. Fix: put the "
                                  'DID in the brands file, e.g. bluesky = ["did:plc:...", '
                                  f'"{handle}"] (look it up on a machine with network)')
            warnings.append(f"{where} not resolved ({problem}); using the DIDs listed")
        changed[brand.name] = replace(
            brand, handles={**brand.handles, "bluesky": frozenset(names | dids)})
    if not changed:
        return brands, warnings
    merged = {name: changed.get(name, b) for name, b in brands.brands.items()}
    return (BrandsConfig(merged, brands.default_sla_seconds, brands.default_expire_after_seconds),
            warnings)


def subscribe_url(base: str, cursor: int | None) -> str:
    query = [("wantedCollections", POST), ("wantedCollections", REPOST)]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    return f"{base}{'&' if '?' in base else '?'}{urlencode(query)}"


class BlueskyConnector:
    """Jetstream websocket -> SourceSink, with reconnects, backoff and a persisted cursor."""

    source = SOURCE
    help = "Bluesky via a Jetstream websocket"
    metrics_port = 9101

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", help=f"Jetstream /subscribe URL (default {DEFAULT_URL})")
        parser.add_argument("--resolver", default=DEFAULT_BLUESKY_RESOLVER,
                            help="service resolving Bluesky handles of the brands file to DIDs")
        add_cursor_argument(parser, SOURCE)

    @classmethod
    def from_args(cls, args: argparse.Namespace, brands: BrandsConfig) -> BlueskyConnector:
        """Resolves handles to DIDs (the network, at start), checks there is a DID to follow."""
        url = args.url or DEFAULT_URL
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ConfigError(f"url: {url!r} is not a websocket URL. Fix: write e.g. "
                              f"{DEFAULT_URL}")
        resolver = getattr(args, "resolver", None) or DEFAULT_BLUESKY_RESOLVER
        brands, warnings = resolve_bluesky_handles(brands, resolver)
        for warning in warnings:
            log.warning("bluesky: %s", warning)
        if not any(bluesky_dids(b) for b in brands):
            raise ConfigError("brands: no brand has a bluesky handle. Fix: add "
                              'handles = { bluesky = ["did:plc:..."] } to the brands to follow')
        cursor = CursorFile(cursor_path(getattr(args, "cursor_file", None), SOURCE))
        return cls(brands, url, cursor)

    def __init__(self, brands: BrandsConfig, url: str = DEFAULT_URL,
                 cursor: CursorFile | None = None, backoff: Backoff | None = None,
                 flush_interval: float = FLUSH_INTERVAL,
                 clock: Callable[[], float] = time.monotonic, *,
                 deadlines: Deadlines | None = None,
                 max_frame_bytes: int = MAX_RECORD_BYTES,
                 max_wire_bytes: int = MAX_WIRE_FRAME_BYTES,
                 wall_clock: Callable[[], float] = time.time,
                 faults: RateLimitedLog | None = None) -> None:
        self.filter = BlueskyFilter(brands)
        self.url = url
        self.cursor = cursor
        self.backoff = backoff or Backoff(initial=1.0, maximum=60.0, jitter=0.2)
        self.flush_interval = flush_interval
        self.clock = clock
        self.deadlines = deadlines or Deadlines()
        self.max_frame_bytes = max_frame_bytes
        self.max_wire_bytes = max_wire_bytes
        self.wall_clock = wall_clock
        self.faults = faults or RateLimitedLog(log)
        self._position: int | None = None  # time_us of the newest frame read
        self._saved: int | None = None  # time_us saved (or loaded): resume point
        self._poison: tuple[int, int] | None = None  # (position, repeats) of a stuck frame
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
        position = self._position
        await sink.flush()
        if position is None or (self._saved is not None and position <= self._saved):
            return
        self._saved = position
        progress = getattr(sink, "progress", None)
        if progress is not None:
            progress(position / 1e6)
        if self.cursor is not None:
            self.cursor.save(str(position))

    async def handle(self, frame: str | bytes, sink: SourceSink) -> None:
        """Classify one frame and hand the result to the sink.

        A frame over the record bound or not UTF-8 is rejected unparsed; its time_us (when
        it has one) still becomes the position, so no reconnect replays into it.
        """
        self.frames += 1
        position = frame_time_us(frame)
        if position is not None and beyond_skew(position / 1e6, self.wall_clock()):
            # Only times the peer could have reached become the cursor: a far-future one
            # would make every resume ask for events that do not exist yet.
            sink.rejected(FUTURE_CURSOR, f"frame time_us {position} is beyond the wall clock "
                          f"+ {MAX_FUTURE_SKEW_SECONDS:g} s: skipped, not used as the cursor")
            return
        if isinstance(frame, str) and len(frame) > self.max_frame_bytes:
            frame = frame.encode("utf-8", errors="surrogatepass")  # a str frame: same bound
        if isinstance(frame, bytes):
            problem = None
            if len(frame) > self.max_frame_bytes:
                problem = (OVERSIZED, f"frame of {len(frame)} bytes > {self.max_frame_bytes}")
            else:
                try:
                    frame = frame.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problem = (INVALID_UTF8, f"frame of {len(frame)} bytes: {exc}")
            if problem is not None:
                sink.rejected(problem[0], f"{problem[1]} (time_us {position}): skipped")
                if position is not None:
                    self._position = position
                return
        result = self.filter.classify(frame)
        if result.skipped is not None:
            sink.skipped(result.skipped)
        elif result.rejected is not None:
            sink.rejected(*result.rejected)
        for event in result.events:
            await sink.emit(event)
        if position is not None:
            self._position = position

    def _resume_cursor(self) -> int | None:
        """Where the next connection starts: the saved cursor rewound, or past a poison frame."""
        if self._saved is None:
            return None
        if self._poison is not None and self._poison[0] == self._saved \
                and self._poison[1] >= 2:
            return self._saved + (POISON_STEP_US << min(self._poison[1] - 2, 32))
        return max(0, self._saved - REWIND_US)

    def _ended_on_unreadable_frame(self, sink: SourceSink) -> None:
        """Count a connection that ended on a frame aiohttp could not read, at the position
        reached; from the second in a row at one position the next resume skips past it."""
        position = self._saved if self._saved is not None else -1
        repeats = self._poison[1] + 1 if self._poison and self._poison[0] == position else 1
        self._poison = (position, repeats)
        if repeats >= 2 and self._saved is not None:
            step = (self._resume_cursor() or 0) - self._saved
            sink.skipped(SKIPPED_WINDOW)
            self.faults.report("poison", "bluesky: an unreadable frame after time_us %d "
                               "ended %d connections in a row: resuming %d µs after it "
                               "(frames in that window are lost)", self._saved, repeats, step)

    async def run(self, sink: SourceSink, stop: asyncio.Event) -> None:
        import aiohttp

        self._load_cursor()
        deadlines = self.deadlines
        timeout = aiohttp.ClientTimeout(total=None, connect=deadlines.connect,
                                        sock_connect=deadlines.connect)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            attempts = 0
            while not stop.is_set():
                url = subscribe_url(self.url, self._resume_cursor())
                unreadable = False
                attempts += 1
                if attempts > 1:
                    sink.reconnected()  # every attempt after the first, failed ones too
                try:
                    ws = await wait_for_peer(
                        session.ws_connect(url, heartbeat=30.0, decode_text=False,
                                           max_msg_size=self.max_wire_bytes),
                        deadlines.connect + deadlines.answer, "websocket upgrade", stop)
                    async with ws:
                        self.connections += 1
                        sink.connected(True)
                        log.info("bluesky: connected to %s", url)
                        reason, unreadable = await self._read(ws, sink, stop)
                    if reason:
                        self.faults.report("disconnect", "bluesky: disconnected from %s: %s",
                                           self.url, reason)
                except Stopped:
                    pass
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    self.faults.report("connect", "bluesky: connection to %s failed: %s",
                                       self.url, str(exc) or type(exc).__name__)
                except SinkUnavailable as exc:
                    log.warning("bluesky: sink unavailable (%s): reconnecting from the last "
                                "saved cursor", exc)
                    self._position = None
                finally:
                    sink.connected(False)
                try:
                    await self._checkpoint(sink)
                except SinkUnavailable as exc:
                    log.warning("bluesky: flush failed (%s): resuming from the saved cursor",
                                exc)
                    self._position = None
                    if stop.is_set():
                        raise
                if unreadable:
                    self._ended_on_unreadable_frame(sink)
                elif self._poison is not None and self._poison[0] != self._saved:
                    self._poison = None  # read past it
                if stop.is_set() or await self.backoff.wait(stop):
                    return

    async def _read(self, ws: Any, sink: SourceSink,
                    stop: asyncio.Event) -> tuple[str | None, bool]:
        """Frames until the server closes, the stream is idle too long or `stop` is set;
        checkpoint every flush_interval. Returns why it ended (None: stopped) and whether
        it ended on a frame that could not be read."""
        import aiohttp

        stopping = asyncio.ensure_future(stop.wait())
        receive: asyncio.Future[Any] | None = None  # kept across timeouts, never cancelled
        last_checkpoint = last_frame = self.clock()
        try:
            while True:
                if receive is None:
                    receive = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receive, stopping}, timeout=self.flush_interval,
                                             return_when=asyncio.FIRST_COMPLETED)
                if receive in done:
                    message, receive = receive.result(), None
                    last_frame = self.clock()
                    if message.type is aiohttp.WSMsgType.TEXT:
                        await self.handle(message.data, sink)
                        self.backoff.reset()
                    elif message.type is aiohttp.WSMsgType.BINARY:
                        sink.rejected(SCHEMA, "binary frame (compression is not requested)")
                    elif message.type is aiohttp.WSMsgType.ERROR:
                        code = getattr(message.data, "code", None)
                        return (f"{type(message.data).__name__}: {message.data}"[:300],
                                code in _UNREADABLE_FRAME_CODES)
                    elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                          aiohttp.WSMsgType.CLOSED):
                        code = ws.close_code if message.data is None else message.data
                        extra = f" ({message.extra})" if message.extra else ""
                        return f"closed by the peer, code {code}{extra}", False
                if stop.is_set():
                    return None, False
                if self.clock() - last_frame >= self.deadlines.idle:
                    return f"no frame for {self.deadlines.idle:g} s", False
                if self.clock() - last_checkpoint >= self.flush_interval:
                    last_checkpoint = self.clock()  # a quiet stream still saves its position
                    await self._checkpoint(sink)
        finally:
            for task in (receive, stopping):
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in (receive, stopping) if t is not None),
                                 return_exceptions=True)
