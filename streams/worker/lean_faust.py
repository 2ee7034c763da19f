"""Faust's per-event work that brandpulse does not need, left out through Faust's own
extension points (a Monitor class, a topic Schema) and one override of the consumer's
hand-over of each message. Measured with bench/faust_path.py (docs/benchmarks.md).

Nothing here changes what reaches the agent, in what order, or what is committed: the
same events with the same raw keys and values, acknowledged as before.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Callable, Generator
from time import monotonic
from typing import Any, cast

import faust
from faust.sensors import Monitor
from faust.types import TP, AppT, EventT, Message, StreamT
from mode.services import Service, WaitResults


class QuietMonitor(Monitor):
    """Faust's Monitor without its per-message and per-event statistics.

    brandpulse exports its own metrics and runs no Faust web server, so nothing reads the
    Monitor's counters and timings; its per-event bookkeeping (four calls per event, a dict
    per event, a deque of timings) is skipped. Kept: the time each partition's stream last
    took an event, which Faust's consumer reads for its "stream is not processing" warning,
    and every other hook (commits, end offsets, tables, rebalances)."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        return None

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT,
                           event: EventT) -> dict[str, Any] | None:
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_stream_event_out(self, tp: TP, offset: int, stream: StreamT, event: EventT,
                            state: dict[str, Any] | None = None) -> None:
        return None

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        return None


class RawBytes(faust.Schema):
    """Keys and values as the bytes the broker gave (every codec is in streams.wire).

    Faust's raw serializer reaches the same bytes through the serializer registry, codec
    lookups and settings reads for every message; this builds the event directly."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: AppT, *, on_key_decode_error: Any = None,
                on_value_decode_error: Any = None,
                default_propagate: bool = False) -> Callable[..., Awaitable[EventT]]:
        event_class: Any = app.conf.Event

        async def decode(message: Message, *, propagate: bool = default_propagate) -> EventT:
            event: EventT = event_class(app, message.key, message.value, message.headers,
                                        message)
            return event

        return decode


def lean_faust(app: faust.App) -> None:
    """Install the consumer's eager hand-over (`eager_wait_first`) on the app's consumer."""
    consumer: Any = app.consumer
    consumer.wait_first = types.MethodType(eager_wait_first, consumer)


async def eager_wait_first(self: Service, *coros: Any, timeout: Any = None) -> WaitResults:
    """mode's `Service.wait_first`, with the first coroutine stepped at once.

    Faust's consumer hands every fetched message to the streams with
    `wait_first(callback(message), suspend_flow.wait())`: four tasks, an `asyncio.wait`
    and three cancellations per message, though the callback (decode, put in the
    stream's queue) almost always completes without waiting. Stepping it here first
    returns its result straight away when it completes; when it waits (a full stream
    buffer, a paused flow), the started coroutine goes on as a task in mode's own
    `wait_first`, as before."""
    if len(coros) != 2 or timeout is not None or not all(map(asyncio.iscoroutine, coros)):
        return await Service.wait_first(self, *coros, timeout=timeout)
    first, other = coros
    try:
        waiting_on = first.send(None)
    except StopIteration as stop:
        other.close()
        if self._stopped.is_set() or self._crashed.is_set():
            return WaitResults([], [], True)  # as mode answers when stopping
        return WaitResults([first], [stop.value], False)
    except BaseException:
        other.close()
        raise
    return await Service.wait_first(self, _resumed(first, waiting_on), other)


async def _resumed(coro: Any, waiting_on: Any) -> Any:
    return await cast(Awaitable[Any], _drive(coro, waiting_on))


@types.coroutine
def _drive(coro: Any, waiting_on: Any) -> Generator[Any, Any, Any]:
    """Go on with `coro`, started and suspended on `waiting_on`, as its own task would:
    what the task sends or throws in goes to `coro`, what `coro` yields goes to the task."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # cancellation among them: coro decides
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration as stop:
                return stop.value
