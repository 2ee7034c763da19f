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

from streams.config import parse_brands
from streams.core.shared_crisis import CrisisShare
from streams.engine import Engine
from streams.events import Rejection
from streams.wire import (
    encode_crisis_share,
    parse_rfc3339,
    sign_record,
)
from streams.worker import agents

NOW = 1_800_000_150.0
BRANDS = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["Acme"]}}]})
KEY = b"internal-key-of-the-follower-tests"
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


def record(value: bytes | None, offset: int, key: bytes | None = b"k",
           topic: str | None = None, signed_at: float = NOW - 1) -> SimpleNamespace:
    """A record as the consumer gives it; signed with KEY for `topic` if one is given."""
    headers = [] if topic is None else sign_record(KEY, topic, value or b"", signed_at)
    return SimpleNamespace(key=key, value=value, partition=0, offset=offset, headers=headers)


def runtime() -> SimpleNamespace:
    rejected: list[str] = []
    return SimpleNamespace(
        settings=SimpleNamespace(broker="kafka://127.0.0.1:9092", internal_keys=(KEY,),
                                 max_future_skew_seconds=300.0),
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
    shares = "brandpulse.crisis-shares"
    await follow(monkeypatch, rt, shares, apply_share,
                 [[record(FORGED, 3, b"evil", shares), record(good, 4, topic=shares)],
                  [record(b"{", 5, None, shares)]])
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
    control = "brandpulse.control"
    await follow(monkeypatch, rt, control, apply_control,
                 [[record(backwards, 0, topic=control), record(fine, 1, topic=control)]])
    assert rt.metrics.rejected == ["schema"]
    assert orjson.loads(rt.dead_letter_topic.sent[0][1])["detail"] == "end is before start"
    assert [c.name for c in engine.crisis_status(parse_rfc3339("2027-01-15T09:00:00Z")).declared
            ] == ["Storm"]


async def test_unsigned_and_forged_internal_records_are_refused_and_counted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The forgeries of issue 20: a declare written straight to the control topic, a share
    signed with another key, a control record replayed on the shares topic, an old signed
    declare written again after its end. None changes the crises; each is counted and
    dead-lettered with its reason."""
    rt = runtime()
    engine = Engine(BRANDS, crisis_source="me")
    control = "brandpulse.control"
    declare = orjson.dumps({"action": "declare", "name": "Fake", "start":
                            "2027-01-15T08:00:00Z"})
    end = orjson.dumps({"action": "end", "name": "Fake", "end": "2027-01-15T09:00:00Z"})
    await follow(monkeypatch, rt, control,
                 lambda value: engine.apply_control(value, rt.wall()),
                 [[record(declare, 0),  # unsigned
                   SimpleNamespace(key=b"k", value=declare, partition=0, offset=1,
                                   headers=sign_record(b"x" * 32, control, declare, NOW)),
                   record(declare, 2, topic=control, signed_at=NOW - 7200),  # the operator's
                   record(end, 3, topic=control, signed_at=NOW - 3600),
                   record(declare, 4, topic=control, signed_at=NOW - 7200),  # written again
                   record(declare, 5, topic=control, signed_at=NOW + 3600)]])  # from the future
    assert rt.metrics.rejected == ["unsigned", "bad_signature", "replayed", "future_timestamp"]
    assert [orjson.loads(v)["source_offset"] for _, v in rt.dead_letter_topic.sent] == [
        0, 1, 4, 5]
    assert [(c.name, c.end) for c in engine.declared_crises()] == [
        ("Fake", parse_rfc3339("2027-01-15T09:00:00Z"))]  # declared, then ended: no more

    rt, engine = runtime(), Engine(BRANDS, crisis_source="me")
    shares = "brandpulse.crisis-shares"
    share = encode_crisis_share(CrisisShare("peer", NOW - 60, NOW - 60, {
        int((NOW - 60) // 300): (100_000, 100_000, -100_000.0)}), 300)
    await follow(monkeypatch, rt, shares,
                 lambda value: engine.apply_share(value, rt.wall()),
                 [[record(share, 0),  # unsigned
                   record(share, 1, topic=control)]])  # signed for the control topic
    assert rt.metrics.rejected == ["unsigned", "bad_signature"]
    crisis = engine.crisis_status(NOW)
    assert crisis.sources == 0 and crisis.detected.volume == 0  # no peer was believed


async def test_without_keys_the_follower_believes_unsigned_records(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """BRANDPULSE_ALLOW_UNSIGNED (development): nothing is verified."""
    rt = runtime()
    rt.settings.internal_keys = ()
    engine = Engine(BRANDS)
    fine = orjson.dumps({"action": "declare", "name": "Storm", "start":
                         "2027-01-15T08:00:00Z"})
    await follow(monkeypatch, rt, "brandpulse.control",
                 lambda value: engine.apply_control(value, rt.wall()), [[record(fine, 0)]])
    assert rt.metrics.rejected == [] and [c.name for c in engine.declared_crises()] == ["Storm"]
