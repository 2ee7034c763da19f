"""Latency work of issue 9: batch/fetch settings, metrics after the state is on the broker,
the filtered /metrics the live bench polls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from streams.cli import build_parser, settings_of
from streams.config import ConfigError, settings_from
from streams.plumbing.web import WebServer
from streams.worker.agents import AfterDelivery
from streams.worker.app import set_fetch_max_wait
from tests.unit.test_web import realistic_registry, request, serve  # noqa: F401  (fixture)


def test_batch_and_fetch_settings_from_env_and_tansu_compat() -> None:
    s = settings_from({"BRANDPULSE_BATCH_SIZE": "500", "BRANDPULSE_BATCH_WITHIN_SECONDS": "0.1",
                       "BRANDPULSE_CONSUMER_FETCH_MAX_WAIT_MS": "250"})
    assert (s.batch_size, s.batch_within_seconds, s.consumer_fetch_max_wait_ms) == (500, 0.1, 250)
    assert settings_from({}).consumer_fetch_max_wait_ms is None  # production: Faust's own
    compat = settings_of(build_parser().parse_args(["worker", "--tansu-compat"]))
    assert compat.consumer_fetch_max_wait_ms is not None
    assert compat.consumer_fetch_max_wait_ms <= 200
    for env in ({"BRANDPULSE_CONSUMER_FETCH_MAX_WAIT_MS": "0"},
                {"BRANDPULSE_BATCH_WITHIN_SECONDS": "0"}):
        with pytest.raises(ConfigError, match="Fix:"):
            settings_from(env)


def test_fetch_wait_reaches_the_fetcher_of_the_installed_client() -> None:
    """Checks the attribute path against the installed aiokafka: a renamed attribute must
    fail here, not silently leave tansu workers at 1.5 s per fetch."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.fetcher import Fetcher

    async def run() -> tuple[bool, Any]:
        client = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
        fetcher = Fetcher.__new__(Fetcher)
        fetcher._fetch_max_wait_ms = 1500
        client._fetcher = fetcher  # what start() creates; no broker needed
        consumer = SimpleNamespace(_thread=SimpleNamespace(_consumer=client))
        return set_fetch_max_wait(consumer, 100), fetcher

    applied, fetcher = asyncio.run(run())
    assert applied and fetcher._fetch_max_wait_ms == 100
    assert "_fetch_max_wait_ms" in Fetcher.__init__.__code__.co_names
    assert not set_fetch_max_wait(SimpleNamespace(), 100)  # unknown shape: logged, False


def test_counts_wait_for_their_state_in_batch_order_without_blocking() -> None:
    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        done: list[str] = []
        published = AfterDelivery()
        first, second = loop.create_future(), loop.create_future()
        published.after([first], lambda: done.append("batch 1"))
        published.after([second], lambda: done.append("batch 2"))
        published.after([], lambda: done.append("batch 3"))  # no writes: still in order
        await asyncio.sleep(0)
        assert done == []  # nothing counted before its state is on the broker
        second.set_result(None)
        await asyncio.sleep(0.01)
        assert done == []  # batch 2 waits for batch 1
        first.set_result(None)
        await published.drain()
        published.after([], lambda: done.append("batch 4"))  # idle: counted at once
        return done

    assert asyncio.run(run()) == ["batch 1", "batch 2", "batch 3", "batch 4"]


def test_a_failed_state_write_leaves_its_batch_and_later_ones_uncounted() -> None:
    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        done: list[str] = []
        published = AfterDelivery()
        failed, fine = loop.create_future(), loop.create_future()
        published.after([failed], lambda: done.append("failed batch"))
        published.after([fine], lambda: done.append("later batch"))
        failed.set_exception(RuntimeError("broker refused"))
        fine.set_result(None)
        await published.drain()
        published.after([], lambda: done.append("after the failure"))
        return done

    assert asyncio.run(run()) == []


def test_metrics_name_filter_renders_only_those_samples(
        serve: Callable[..., WebServer]) -> None:  # noqa: F811
    server = serve(realistic_registry(3))
    _, _, whole = request(server, "GET", "/metrics")
    status, _, body = request(
        server, "GET", "/metrics?name[]=brandpulse_first_response_seconds_count"
                       "&name[]=brandpulse_build_info")
    assert status == 200
    text = body.decode()
    names = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
             if not line.startswith("#")}
    assert names == {"brandpulse_first_response_seconds_count", "brandpulse_build_info"}
    assert len(body) < len(whole) / 5
