"""The followers of the control and crisis-shares topics dead-letter and count what they reject.

`_follow_from_start` is driven with a fake consumer (no broker): the records it yields go
through the real decoders, as `register_agents` wires them.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, ClassVar

import orjson
import pytest

from streams import agents
from streams.config import parse_brands
from streams.core.shared_crisis import CrisisShare
from streams.engine import Engine
from streams.events import Rejection
from streams.wire import (
    encode_crisis_share,
    parse_rfc3339,
)

NOW = 1_800_000_150.0
BRANDS = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["Acme"]}}]})
FORGED = (b'{"source":"evil","bucket_seconds":300,"first_seen":1e12,"latest":1e15,'
          b'"buckets":[[3333333333333,100000,100000,-100000.0]]}')


class FakeConsumer:
    """Yields the given batches once, then stops the follower as a shutdown would."""

    batches: ClassVar[list[list[Any]]] = []

    def __init__(self, topic: str, **kwargs: Any) -> None:
        self.topic = topic
        self.kwargs = kwargs
        self.pending = list(FakeConsumer.batches)
        self.stopped = False

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(self, timeout_ms: int) -> dict[Any, list[Any]]:
        if not self.pending:
            raise asyncio.CancelledError
        return {(self.topic, 0): self.pending.pop(0)}


class FakeTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, value))


def record(value: bytes | None, offset: int, key: bytes | None = b"k") -> SimpleNamespace:
    return SimpleNamespace(key=key, value=value, partition=0, offset=offset)


def runtime() -> SimpleNamespace:
    rejected: list[str] = []
    return SimpleNamespace(
        settings=SimpleNamespace(broker="kafka://127.0.0.1:9092"),
        metrics=SimpleNamespace(rejected_event=rejected.append, rejected=rejected),
        dead_letter_topic=FakeTopic(), wall=lambda: NOW)


async def follow(monkeypatch: pytest.MonkeyPatch, rt: SimpleNamespace, topic: str,
                 apply: Any, batches: list[list[Any]]) -> None:
    monkeypatch.setattr(agents, "AIOKafkaConsumer", FakeConsumer)
    monkeypatch.setattr(FakeConsumer, "batches", batches)
    with pytest.raises(asyncio.CancelledError):
        await agents._follow_from_start(rt, topic, apply)  # type: ignore[arg-type]


async def test_bad_shares_are_dead_lettered_with_their_reason_and_good_ones_merged(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime()
    engine = Engine(BRANDS, crisis_source="me")

    def apply_share(value: bytes | None) -> Rejection | None:  # what the worker does
        return engine.apply_share(value, rt.wall())

    good = encode_crisis_share(CrisisShare("peer", NOW - 60, NOW - 60,
                                           {int((NOW - 60) // 300): (4, 1, -1.0)}), 300)
    await follow(monkeypatch, rt, "brandpulse.crisis-shares", apply_share,
                 [[record(FORGED, 3, b"evil"), record(good, 4)], [record(b"{", 5, None)]])
    assert rt.metrics.rejected == ["future_timestamp", "malformed_json"]
    letters = [(key, orjson.loads(value)) for key, value in rt.dead_letter_topic.sent]
    assert [key for key, _ in letters] == [b"evil", None]
    first = letters[0][1]
    assert first["reason"] == "future_timestamp"
    assert (first["source_topic"], first["source_partition"], first["source_offset"]) == (
        "brandpulse.crisis-shares", 0, 3)
    assert first["payload"] == FORGED.decode()
    crisis = engine.crisis_status(NOW)
    assert crisis.sources == 1 and crisis.detected.volume == 4


async def test_a_crisis_ending_before_it_starts_is_dead_lettered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime()
    engine = Engine(BRANDS)

    def apply_control(value: bytes | None) -> Rejection | None:  # what the worker does
        return engine.apply_control(value, rt.wall())

    backwards = orjson.dumps({"action": "declare", "name": "Storm", "start":
                              "2027-01-15T08:00:00Z", "end": "2027-01-14T08:00:00Z"})
    fine = orjson.dumps({"action": "declare", "name": "Storm", "start":
                         "2027-01-15T08:00:00Z"})
    await follow(monkeypatch, rt, "brandpulse.control", apply_control,
                 [[record(backwards, 0), record(fine, 1)]])
    assert rt.metrics.rejected == ["schema"]
    assert orjson.loads(rt.dead_letter_topic.sent[0][1])["detail"] == "end is before start"
    assert [c.name for c in engine.crisis_status(parse_rfc3339("2027-01-15T09:00:00Z")).declared
            ] == ["Storm"]
