"""The worker's parts without a broker: ownership, state rebuild, snapshots, API views.

The broker integration tests run them for real; these pin each part's own rules on
hand-made cases, so a regression names the part that broke.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import faust
import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.config import parse_brands, settings_from
from streams.engine import Engine
from streams.events import AudienceKind, Side, SocialEvent
from streams.metrics import BrandpulseMetrics
from streams.wire import encode_state_key, encode_state_value
from streams.worker import gauges
from streams.worker.api import ApiViews
from streams.worker.ownership import Ownership, brand_partition
from streams.worker.runtime import Runtime

T0 = 1_790_000_000.0  # in the past: state rows dated after the wall clock are refused
BRANDS = parse_brands({"brand": [
    {"name": name, "handles": {"twitter": [f"{name}care"]}, "sla_seconds": 600}
    for name in ("acme", "globex", "initech", "umbrella")]})


def message(brand: str, mid: str, at: float) -> SocialEvent:
    return SocialEvent(Side.AUDIENCE, mid, brand, "twitter", "someone", "my order is late",
                       at, kind=AudienceKind.DIRECT_MESSAGE)


def reply(brand: str, pid: str, to: str, at: float) -> SocialEvent:
    return SocialEvent(Side.BRAND, pid, brand, "twitter", f"{brand}care", "Sorry, DM us",
                       at, in_reply_to=to)


def test_ownership_follows_assignment() -> None:
    ownership = Ownership(BRANDS, 6)
    assert ownership.owned_brands() == []
    mine = {brand_partition("acme", 6)}
    ownership.assign(mine)
    assert "acme" in ownership.owned_brands() and ownership.owns("acme")
    assert ownership.on_partitions({"acme", "globex"}, mine) >= {"acme"}
    ownership.revoke(mine)
    assert not ownership.owns("acme")


def test_gauge_feed_renews_changed_brands_and_ages_backlogs_of_the_others() -> None:
    engine = Engine(BRANDS)
    feed = gauges.GaugeFeed(engine, BRANDS, tick_seconds=1.0)
    engine.ingest(message("acme", "m1", T0), T0)
    engine.ingest(message("globex", "g1", T0), T0)
    fresh = feed.refresh(T0 + 10)
    assert sorted(s.brand for s in fresh) == ["acme", "globex"]
    (acme, sla), = [(s, t) for s, t in feed.snapshots() if s.brand == "acme"]
    assert sla == 600 and acme.backlog["twitter"].unanswered == 1
    assert acme.backlog["twitter"].oldest_age_seconds == pytest.approx(10)
    engine.ingest(reply("globex", "r1", "g1", T0 + 20), T0 + 20)
    # 30 s later only globex changed; acme's backlog still ages with the wall clock.
    fresh = feed.refresh(T0 + 40)
    assert [s.brand for s in fresh] == ["globex"]
    views = {s.brand: s for s, _ in feed.snapshots()}
    assert views["acme"].backlog["twitter"].oldest_age_seconds == pytest.approx(40)
    assert views["globex"].backlog["twitter"].unanswered == 0
    assert feed.newest_time(default=0.0) == pytest.approx(T0 + 40)
    feed.forget({"acme"})
    assert [s.brand for s, _ in feed.snapshots()] == ["globex"]


def test_gauge_feed_takes_at_most_the_cap_per_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gauges, "SNAPSHOTS_PER_TICK", 2)
    engine = Engine(BRANDS)
    feed = gauges.GaugeFeed(engine, BRANDS, tick_seconds=1.0)
    for brand in ("acme", "globex", "initech", "umbrella"):
        engine.ingest(message(brand, "m1", T0), T0)
    assert len(feed.refresh(T0)) == 2
    assert len(feed.refresh(T0 + 1)) == 2  # waiting ones (and the round-robin slice)
    assert len({s.brand for s, _ in feed.snapshots()}) >= 3
    assert len(feed.refresh(T0 + 2)) <= 2
    assert len({s.brand for s, _ in feed.snapshots()}) == 4  # none starves


def test_api_views_serve_json_without_nan() -> None:
    engine = Engine(BRANDS)
    engine.ingest(message("acme", "m1", T0), T0)
    views = ApiViews()
    views.update([engine.snapshot("acme", T0 + 5)])
    assert views.get("/api/brands") == {"brands": ["acme"], "crises": []}
    acme = views.get("/api/brands/acme/")
    assert acme is not None and acme["backlog"]["twitter"]["unanswered"] == 1
    assert acme["robot_score"] is None or not math.isnan(acme["robot_score"])
    assert all(v is None or not math.isnan(v) for v in acme["reply_rate"].values())
    served = orjson.loads(orjson.dumps(acme))  # what the HTTP server sends
    assert set(served["reply_rate"]) == {"1h", "24h"}
    assert set(served["audience_sentiment"]) == {"crisis", "normal"}
    assert views.get("/api/brands/nobody") is None and views.get("/api/other") is None
    views.forget({"acme"})
    assert views.get("/api/brands") == {"brands": [], "crises": []}


def make_runtime() -> Runtime:
    settings = settings_from(broker="kafka://127.0.0.1:1", partitions=6)
    app = faust.App("brandpulse-unit", broker=settings.broker, store="memory://",
                    web_enabled=False)
    metrics = BrandpulseMetrics(CollectorRegistry())
    metrics.initialise(("a", "b"), BRANDS.get)
    return Runtime(app, settings, BRANDS, metrics)


def brand_labels(metrics: BrandpulseMetrics) -> set[str]:
    return {s.labels["brand"] for family in metrics.registry.collect()
            for s in family.samples if "brand" in s.labels}


def one_message_per_brand() -> dict[bytes, bytes]:
    """The changelog records of every brand after one message each."""
    source = Engine(BRANDS)
    for brand in BRANDS:
        source.ingest(message(brand.name, "m1", T0), T0)
    return {encode_state_key(brand, key): encode_state_value(row)
            for brand, key, row in source.take_changes() if row is not None}


def stand_in_recovery(runtime: Runtime, records: dict[bytes, bytes],
                      gate: asyncio.Event | None = None) -> list[set[int]]:
    """Replace the changelog read with `records` (after `gate`, when given: a slow
    broker); returns the list of the partition sets read."""
    store = runtime.store
    reads: list[set[int]] = []

    async def recover(partitions: set[int], wall: Any, rebuilder: Any) -> int:
        reads.append(set(partitions))
        if gate is not None:
            await gate.wait()
        async for brand, rows in store._decode(dict(records), wall()):
            if brand_partition(brand, 6) in partitions:
                rebuilder.rebuild_brand(brand, rows)
        for p in partitions:
            rebuilder.partition_rebuilt(p)
        return 0

    store.recover = recover  # type: ignore[method-assign]
    return reads


async def test_runtime_rebuilds_owned_brands_and_releases_them_when_assigned_elsewhere(
        ) -> None:
    runtime = make_runtime()
    records = one_message_per_brand()
    records[b"acme\x1f0\x1fa\x1fforged"] = b"\x80\x04pickle"  # refused, counted
    reads = stand_in_recovery(runtime, records)
    acme = brand_partition("acme", 6)
    owned = {b.name for b in BRANDS if brand_partition(b.name, 6) == acme}
    runtime.on_assigned({acme})
    assert runtime.recovering()  # no event of its brands is processed before the rebuild
    await asyncio.wait_for(runtime.rebuilt.wait(), 5)
    assert set(runtime.engine.active_brands()) == owned
    get = runtime.metrics.registry.get_sample_value
    assert get("brandpulse_state_records_rejected_total", {"reason": "schema"}) == 1
    runtime.refresh_gauges(T0 + 60)
    assert runtime.api("/api/brands") == {"brands": sorted(owned), "crises": []}
    assert brand_labels(runtime.metrics) == owned
    assert get("brandpulse_unanswered_messages", {"brand": "acme", "platform": "twitter"}) == 1
    # the restored counts continue, exported at once (no zeros first: that reads as a reset)
    assert get("brandpulse_audience_messages_total",
               {"brand": "acme", "platform": "twitter", "requires_reply": "true"}) == 1
    # a rebalance that gives the partition back keeps the state: nothing to read again
    runtime.on_revoked({acme})
    assert runtime.recovering() and set(runtime.engine.active_brands()) == owned
    runtime.on_assigned({acme})
    assert not runtime.recovering() and reads == [{acme}]
    # one that gives it to another worker releases it
    runtime.on_revoked({acme})
    runtime.on_assigned(set())
    assert runtime.engine.active_brands() == []
    assert runtime.api("/api/brands") == {"brands": [], "crises": []}
    assert brand_labels(runtime.metrics) == set()


async def test_a_revocation_during_recovery_leaves_nothing_counted_as_rebuilt() -> None:
    """A rebalance that revokes partitions while their recovery still reads them: the
    recovery is abandoned, no partition counts as held, and the next assignment of the
    same partition reads it again, so its brands never start from empty state."""
    runtime = make_runtime()
    gate = asyncio.Event()  # the broker is slow: the rebalance comes first
    reads = stand_in_recovery(runtime, one_message_per_brand(), gate)
    acme = brand_partition("acme", 6)
    runtime.on_assigned({acme})
    await asyncio.sleep(0)
    runtime.on_revoked({acme})
    gate.set()
    await asyncio.sleep(0.05)
    assert runtime.held == set() and runtime.recovering()
    assert runtime.engine.active_brands() == []
    runtime.on_assigned({acme})
    await asyncio.wait_for(runtime.rebuilt.wait(), 5)
    assert reads == [{acme}, {acme}]  # read again, not taken as held
    assert "acme" in runtime.engine.active_brands()
    get = runtime.metrics.registry.get_sample_value
    assert get("brandpulse_audience_messages_total",
               {"brand": "acme", "platform": "twitter", "requires_reply": "true"}) == 1


def test_every_observation_kind_has_one_handler_in_every_sink() -> None:
    """The one type switch: each kind of the core's observations maps to a sink method,
    and the totals (the metrics' source) and the report implement every one of them."""
    import typing

    from streams import engine as engine_module
    from streams.commands.report import _Tallies
    from streams.core.totals import BrandTotals

    kinds = set(typing.get_args(engine_module.AnyObservation))
    assert kinds == set(engine_module._METHOD_NAMES)
    for sink in (BrandTotals, _Tallies):
        missing = [name for name in engine_module._METHOD_NAMES.values()
                   if not callable(getattr(sink, name, None))]
        assert not missing, (sink, missing)
