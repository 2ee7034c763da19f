"""Faust's per-event work left out (streams/worker/lean_faust.py): same events, same results.

The eager hand-over must give what mode's `Service.wait_first` gives in every case the
consumer meets (the callback completes at once, waits then completes, fails, is overtaken
by a paused flow or a stop); the raw schema must build the same event as Faust's raw
serializer; the quiet monitor must keep what Faust's consumer reads of it.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import faust
import pytest
from faust.types import TP, Message
from mode import Service

from streams.config import parse_brands, settings_from
from streams.worker.app import create_app
from streams.worker.lean_faust import QuietMonitor, RawBytes, eager_wait_first

BRANDS = parse_brands({"brand": [
    {"name": "acme", "handles": {"twitter": ["acmecare"]}, "sla_seconds": 600}]})


class _Service(Service):
    pass


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _both(make: Any) -> tuple[Any, Any]:
    """(eager result, mode's result) for the same pair of coroutines."""
    service = _Service()
    first, other = make()
    eager = await eager_wait_first(service, first, other)
    first, other = make()
    plain = await Service.wait_first(service, first, other)
    return eager, plain


def test_a_callback_that_completes_at_once_gives_its_result_without_a_task() -> None:
    async def main() -> None:
        service = _Service()
        calls = 0

        async def callback() -> int:
            nonlocal calls
            calls += 1
            return 5

        before = len(asyncio.all_tasks())
        other = asyncio.Event().wait()
        result = await eager_wait_first(service, callback(), other)
        assert (result.results, result.stopped, calls) == ([5], False, 1)
        assert len(asyncio.all_tasks()) == before
        assert inspect.getcoroutinestate(other) == inspect.CORO_CLOSED  # never left unawaited
        paused = asyncio.Event()
        paused.set()
        eager, plain = await _both(lambda: (callback(), paused.wait()))
        assert eager.results[0] == plain.results[0] == 5  # the callback ran in both

    run(main())


def test_a_callback_that_waits_goes_on_as_a_task_and_its_result_is_returned() -> None:
    async def main() -> None:
        room = asyncio.Event()
        steps: list[str] = []

        async def callback() -> int:
            steps.append("start")
            await room.wait()
            await asyncio.sleep(0)  # a bare yield too
            steps.append("end")
            return 7

        asyncio.get_running_loop().call_later(0.02, room.set)
        result = await eager_wait_first(_Service(), callback(), asyncio.Event().wait())
        assert (result.results, result.stopped, steps) == ([7], False, ["start", "end"])

    run(main())


def test_a_failing_callback_raises_at_once_or_after_waiting() -> None:
    async def at_once() -> None:
        raise ValueError("bad")

    async def later() -> None:
        await asyncio.sleep(0.01)
        raise KeyError("bad")

    async def main() -> None:
        for callback, error in ((at_once, ValueError), (later, KeyError)):
            with pytest.raises(error):
                await eager_wait_first(_Service(), callback(), asyncio.Event().wait())

    run(main())


def test_a_paused_flow_overtakes_a_waiting_callback_which_is_cancelled() -> None:
    async def main() -> None:
        paused = asyncio.Event()
        cancelled: list[bool] = []

        async def callback() -> None:
            try:
                await asyncio.sleep(10)  # a full stream buffer
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        asyncio.get_running_loop().call_later(0.01, paused.set)
        result = await eager_wait_first(_Service(), callback(), paused.wait())
        await asyncio.sleep(0)
        assert result.results == [True] and cancelled == [True]

    run(main())


def test_a_stopped_service_answers_stopped_as_mode_does() -> None:
    async def callback() -> int:
        return 1

    async def main() -> None:
        service = _Service()
        service._stopped.set()
        eager = await eager_wait_first(service, callback(), asyncio.Event().wait())
        plain = await Service.wait_first(service, callback(), asyncio.Event().wait())
        assert eager == plain == ([], [], True)

    run(main())


def test_other_calls_go_to_mode_unchanged() -> None:
    async def main() -> None:
        service = _Service()
        ready = asyncio.Event()
        ready.set()
        result = await eager_wait_first(service, ready, timeout=1.0)
        assert result.results == [True]

    run(main())


@pytest.mark.parametrize("key, value", [(b"acme", b'{"a": 1}'), (None, b"x"), (b"k", None),
                                        (b"", b"")])
def test_the_raw_schema_builds_the_event_faust_raw_serializer_builds(
        key: bytes | None, value: bytes | None) -> None:
    app = faust.App("brandpulse-unit-raw", broker="kafka://127.0.0.1:1")
    message = Message("audience-messages", 3, 42, 1.0, 0, [("h", b"v")], key, value, None)

    async def main() -> tuple[Any, Any]:
        plain = faust.Schema(key_serializer="raw", value_serializer="raw").compile(app)
        return await RawBytes().compile(app)(message), await plain(message)

    ours, faust_own = run(main())
    assert type(ours) is type(faust_own)
    for field in ("key", "value", "headers", "message", "app"):
        assert getattr(ours, field) == getattr(faust_own, field), field


def test_the_quiet_monitor_keeps_the_stream_inbound_time_and_counts_nothing() -> None:
    monitor = QuietMonitor()
    tp = TP("audience-messages", 2)
    message = Message(tp.topic, tp.partition, 5, 1.0, 0, None, b"k", b"v", None, tp=tp)
    monitor.on_message_in(tp, 5, message)
    state = monitor.on_stream_event_in(tp, 5, None, None)  # type: ignore[arg-type]
    monitor.on_stream_event_out(tp, 5, None, None, state)  # type: ignore[arg-type]
    monitor.on_message_out(tp, 5, message)
    assert tp in monitor.stream_inbound_time
    assert (monitor.messages_received_total, monitor.events_total) == (0, 0)


def test_the_worker_app_uses_all_three() -> None:
    app, runtime = create_app(settings_from({}), BRANDS)
    assert isinstance(app.monitor, QuietMonitor)
    assert app.consumer.wait_first.__func__ is eager_wait_first  # type: ignore[attr-defined]
    assert isinstance(runtime.input_topic.schema, RawBytes)
