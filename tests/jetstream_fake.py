"""Hand-written Jetstream v1 frames and a fake `/subscribe` server (aiohttp.web, 127.0.0.1).

The frames follow Jetstream's documented shape (did, time_us, kind, commit{rev, operation,
collection, rkey, record, cid}); DIDs and texts are made up. A `RawFrame` is sent as a text
frame byte for byte (hostile input: oversized, invalid UTF-8); `SilentPeer` accepts TCP
connections and never answers (a stuck peer, for Jetstream and Mastodon alike).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import WSMsgType, web

BRAND_DID = "did:plc:acmeacmeacmeacmeacmeacme"  # 24 base32 chars after did:plc:
OTHER_BRAND_DID = "did:plc:globexglobexglobexglobexg"[:32]
JANE = "did:plc:janejanejanejanejanejane"
BOB = "did:plc:bobbobbobbobbobbobbobbob"[:32]
POST, REPOST = "app.bsky.feed.post", "app.bsky.feed.repost"


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def uri(did: str, rkey: str, collection: str = POST) -> str:
    return f"at://{did}/{collection}/{rkey}"


def commit(did: str, time_us: int, rkey: str, record: dict[str, Any] | None = None,
           operation: str = "create", collection: str = POST) -> dict[str, Any]:
    body: dict[str, Any] = {"rev": f"3l{rkey}", "operation": operation,
                            "collection": collection, "rkey": rkey}
    if record is not None:
        body["record"] = record
        body["cid"] = f"bafyrei{rkey}"
    return {"did": did, "time_us": time_us, "kind": "commit", "commit": body}


def post(did: str, time_us: int, rkey: str, text: str = "hello", created: float | None = None,
         parent: str | None = None, root: str | None = None,
         mentions: tuple[str, ...] = (), operation: str = "create") -> dict[str, Any]:
    record: dict[str, Any] = {"$type": POST, "text": text, "langs": ["en"],
                              "createdAt": iso(time_us / 1e6 if created is None else created)}
    if parent is not None:
        record["reply"] = {"parent": {"uri": parent, "cid": "bafyreip"},
                           "root": {"uri": root or parent, "cid": "bafyreir"}}
    if mentions:
        record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 5},
                             "features": [{"$type": "app.bsky.richtext.facet#mention",
                                           "did": d}]} for d in mentions]
    return commit(did, time_us, rkey, record, operation)


def repost(did: str, time_us: int, rkey: str, subject: str) -> dict[str, Any]:
    record = {"$type": REPOST, "subject": {"uri": subject, "cid": "bafyreis"},
              "createdAt": iso(time_us / 1e6)}
    return commit(did, time_us, rkey, record, collection=REPOST)


def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


@dataclass(frozen=True)
class RawFrame:
    """A text frame sent as these bytes (not necessarily JSON nor UTF-8), at `time_us`."""

    time_us: int
    data: bytes

    def __getitem__(self, key: str) -> int:  # frame["time_us"], like the dict frames
        assert key == "time_us"
        return self.time_us


def oversized(did: str, time_us: int, rkey: str, size: int) -> RawFrame:
    """A post frame of about `size` bytes (its text padded), time_us first as Jetstream does."""
    frame = encode(post(did, time_us, rkey, "x" * size)).encode()
    return RawFrame(time_us, frame)


def not_utf8(did: str, time_us: int, rkey: str) -> RawFrame:
    """A post frame whose text holds bytes that are not UTF-8."""
    frame = encode(post(did, time_us, rkey, "MARK")).encode().replace(b"MARK", b"\xff\xfe")
    return RawFrame(time_us, frame)


class SilentPeer:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        while await reader.read(65536):  # read and drop whatever the client sends
            pass

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


class BlackHole:
    """A loopback address whose TCP connects hang, as to a host that drops packets: a
    listening socket that never accepts, its one-slot accept queue filled, so the kernel
    drops every further SYN and the client waits for its own deadline."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._filler = socket.create_connection(("127.0.0.1", self.port), timeout=2)

    def close(self) -> None:
        self._filler.close()
        self._listener.close()


@dataclass
class FakeJetstream:
    """Serves `frames` (sorted by time_us) from the requested cursor on; the first
    connection is cut after `cut_after` frames. Records every query string it was asked."""

    frames: list[Any]  # dict frames and RawFrames, by time_us
    cut_after: int | None = None
    hold_open: bool = True  # after the last frame, keep the socket open until closed
    abort: bool = False  # cut the first connection by a TCP reset instead of a close frame
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)  # time_us of every frame sent
    _runner: web.AppRunner | None = None
    port: int = 0

    async def _subscribe(self, request: web.Request) -> web.WebSocketResponse:
        query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            query.setdefault(key, []).append(value)
        self.queries.append(query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = len(self.queries) == 1
        count = 0
        for frame in self.frames:
            if cursor is not None and frame["time_us"] < cursor:
                continue
            if first and self.cut_after is not None and count >= self.cut_after:
                if self.abort and request.transport is not None:
                    request.transport.abort()
                else:
                    await ws.close()
                return ws
            if isinstance(frame, RawFrame):
                await ws.send_frame(frame.data, WSMsgType.TEXT)
            else:
                await ws.send_str(encode(frame))
            self.sent.append(frame["time_us"])
            count += 1
        if self.hold_open:
            async for _ in ws:
                pass
        else:
            await ws.close()
        return ws

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/subscribe", self._subscribe)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"ws://127.0.0.1:{self.port}/subscribe"

    async def stop(self) -> None:
        if self._runner is not None:
            await asyncio.wait_for(self._runner.cleanup(), 10)
