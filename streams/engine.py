"""Feeds events to the pure core and collects what it observed.

The Faust agents and the offline `brandpulse report` both drive this one class, so a
number in Prometheus and a number in a report come from the same code path. It knows
nothing of Kafka or Prometheus: persistence goes through `take_dirty`/`load`, metrics
through the returned observations and `snapshot`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.config import BrandsConfig
from streams.core.behaviour import BehaviourBook, BehaviourObservation, BehaviourSnapshot
from streams.core.clock import EventClock
from streams.core.conversation import (
    ConversationSnapshot,
    conversation_snapshot,
    with_evidence,
)
from streams.core.sla import (
    DEFAULT_BREACH_GRACE_SECONDS,
    Backlog,
    DuplicateEvent,
    LateEvent,
    Observation,
    ReplyBook,
    requires_reply,
)
from streams.events import Side, SocialEvent

AnyObservation = Observation | BehaviourObservation


@dataclass(frozen=True, slots=True)
class BrandSnapshot:
    """The gauges of one brand at one instant of event time."""

    brand: str
    now: float
    backlog: dict[str, Backlog]  # per platform
    conversation: ConversationSnapshot
    behaviour: BehaviourSnapshot


class Engine:
    """All brands' state on one worker (or in one offline run)."""

    def __init__(self, brands: BrandsConfig,
                 breach_grace_seconds: float = DEFAULT_BREACH_GRACE_SECONDS,
                 analyse_behaviour: bool = True, crisis_source: str = "local") -> None:
        self.brands = brands
        self.analyse_behaviour = analyse_behaviour
        self.breach_grace_seconds = breach_grace_seconds
        self.books: dict[str, ReplyBook] = {}
        self.behaviour = BehaviourBook(crisis_source)
        self.clock = EventClock()

    def book(self, brand: str) -> ReplyBook:
        book = self.books.get(brand)
        if book is None:
            config = self.brands.get(brand)
            if config is None:
                raise KeyError(f"brand {brand!r} is not configured")
            book = self.books[brand] = ReplyBook(config, self.breach_grace_seconds)
        return book

    def ingest(self, event: SocialEvent, wall: float = 0.0) -> list[AnyObservation]:
        """Apply one validated event; returns what it changed that is worth counting."""
        now = self.clock.observe(event.created_at, wall)
        book = self.book(event.brand)
        observations: list[AnyObservation]
        if event.side is Side.AUDIENCE:
            observations = book.add_message(event, requires_reply(event, book.brand), now)
        else:
            observations = book.add_post(event, now)
        if self.analyse_behaviour and not isinstance(observations[0],
                                                     DuplicateEvent | LateEvent):
            observations.extend(self.behaviour.on_event(event))
        return observations

    def ingest_all(self, events: Iterable[SocialEvent]) -> list[AnyObservation]:
        """Offline path: apply events in order, letting the clock breach as it goes."""
        observations: list[AnyObservation] = []
        for event in events:
            observations.extend(self.ingest(event))
            observations.extend(self.advance(self.clock.now()))
        return observations

    def advance(self, now: float) -> list[Observation]:
        if math.isinf(now):
            return []
        observations: list[Observation] = []
        for book in self.books.values():
            observations.extend(book.advance(now))
        return observations

    def snapshot(self, brand: str, now: float) -> BrandSnapshot:
        book = self.book(brand)
        behaviour = self.behaviour.brand(brand).snapshot(now)
        return BrandSnapshot(
            brand=brand,
            now=now,
            backlog=book.backlog(now),
            conversation=conversation_snapshot(
                book.hour_counts(), now,
                with_evidence(behaviour.templated_reply_ratio, behaviour.templated_reply_count)),
            behaviour=behaviour,
        )

    def drop_brand(self, brand: str) -> None:
        """Forget a brand whose partition moved to another worker."""
        self.books.pop(brand, None)
        self.behaviour.brands.pop(brand, None)

    # -- persistence: one key per (brand, event-time hour) -----------------------------------
    def take_dirty(self) -> dict[tuple[str, int], dict[str, Any] | None]:
        changed: dict[tuple[str, int], dict[str, Any] | None] = {}
        for name, book in self.books.items():
            for hour, data in book.take_dirty().items():
                changed[(name, hour)] = data
        return changed

    def load(self, brand: str, hour: int, data: dict[str, Any]) -> None:
        self.book(brand).load_bucket(hour, data)
