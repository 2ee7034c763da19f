"""Several workers in one consumer group, and a worker killed and restarted."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.plumbing.broker import EmbeddedBroker
from streams.worker.ownership import brand_partition

from .harness import RECENT_DAY, Worker, event_record, produce, wait_for_split, wait_until

pytestmark = pytest.mark.broker
BRANDS = ("acme", "globex", "initech", "umbrella")
STARTUP = 120.0


def message(brand: str, id: str, minute: int) -> tuple[str, bytes, bytes]:
    handle = {"acme": "AcmeSupport", "globex": "Globex", "initech": "Initech",
              "umbrella": "Umbrella"}[brand]
    return event_record("audience", id=id, brand=brand, author="bob", text=f"@{handle} hi",
                        created_at=f"{RECENT_DAY}T10:{minute:02d}:00Z")


def reply(brand: str, id: str, to: str, minute: int,
          text: str = "hello") -> tuple[str, bytes, bytes]:
    return event_record("brand", id=id, brand=brand, author="support", text=text,
                        created_at=f"{RECENT_DAY}T10:{minute:02d}:00Z", in_reply_to=to)


def test_two_workers_split_partitions_and_each_brand_has_one_owner(
        broker: EmbeddedBroker, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    first = Worker(broker.url, brands_file, tmp_path, app_id, "first")
    second = Worker(broker.url, brands_file, tmp_path, app_id, "second")
    workers = (first, second)
    try:
        wait_for_split(workers, 6, STARTUP)
        produce(broker.url, [message(b, f"{b}-m1", 0) for b in BRANDS])

        def owners(brand: str) -> list[Worker]:
            return [w for w in workers
                    if w.value("brandpulse_unanswered_messages", brand=brand,
                               platform="twitter") is not None]

        wait_until(lambda: all(owners(b) for b in BRANDS), 60, "every brand's gauges")
        for brand in BRANDS:
            assert len(owners(brand)) == 1, f"{brand} exported by both workers"
        # The owner is the worker that was assigned the brand's partition.
        assert {len(owners(b)) for b in BRANDS} == {1}
        partitions = {brand_partition(b, 6) for b in BRANDS}
        assert len(partitions) > 1, "test brands should land on several partitions"
        counted = sum(w.value("brandpulse_audience_messages_total", brand=b, platform="twitter",
                              requires_reply="true") or 0 for w in workers for b in BRANDS)
        assert counted == len(BRANDS)

        # When one worker leaves, the other takes over every brand and their backlog.
        second.kill()
        wait_until(lambda: first.value("brandpulse_assigned_partitions") == 6, STARTUP,
                   "the survivor to take all partitions", first.log)
        wait_until(lambda: all(first.value("brandpulse_unanswered_messages", brand=b,
                                           platform="twitter") == 1 for b in BRANDS),
                   60, "recovered backlogs on the survivor", first.log)
    finally:
        for worker in workers:
            worker.kill()


def test_killed_worker_restarts_from_its_tables_without_double_counting(
        broker: EmbeddedBroker, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    first = Worker(broker.url, brands_file, tmp_path, app_id, "before-crash")
    canned = "Thanks for reaching out, please send us a DM with your order number"
    try:
        wait_until(lambda: first.value("brandpulse_assigned_partitions") == 6, STARTUP,
                   "assignment", first.log)
        history = [message("acme", "m1", 0), reply("acme", "r1", "m1", 5),
                   message("acme", "m2", 10)]
        # Umbrella answers everyone with one pasted line: behaviour state worth recovering.
        history += [message("umbrella", f"u{i}", i) for i in range(6)]
        history += [reply("umbrella", f"ur{i}", f"u{i}", i + 1, text=canned) for i in range(6)]
        produce(broker.url, history)
        wait_until(lambda: first.value("brandpulse_first_response_seconds_count",
                                       policy="default", brand="acme", platform="twitter") == 1,
                   60, "the first response before the crash", first.log)
        wait_until(lambda: first.value("brandpulse_templated_reply_ratio",
                                       brand="umbrella") == 1.0, 30, "canned replies seen")
    finally:  # killed at once: behaviour state is persisted with each batch, no snapshot wait
        first.kill()  # SIGKILL: no clean shutdown, no final commit

    second = Worker(broker.url, brands_file, tmp_path, app_id, "after-crash")
    try:
        wait_until(lambda: second.value("brandpulse_assigned_partitions") == 6, STARTUP,
                   "assignment after restart", second.log)
        # Recovered from the changelog before any new event arrives, counters included:
        # they continue from their persisted values (a restart is no counter reset).
        wait_until(lambda: second.value("brandpulse_templated_reply_ratio",
                                        brand="umbrella") == 1.0, 30,
                   "the behaviour state recovered", second.log)
        acme = {"brand": "acme", "platform": "twitter"}
        assert second.value("brandpulse_unanswered_messages", **acme) == 1
        assert second.value("brandpulse_first_response_seconds_count", policy="default",
                            **acme) == 1
        assert second.value("brandpulse_audience_messages_total", requires_reply="true",
                            **acme) == 2
        # Redelivery of everything (as after a crash before commit) plus one new reply.
        produce(broker.url, [*history, reply("acme", "r2", "m2", 40)])
        wait_until(lambda: second.value("brandpulse_unanswered_messages", **acme) == 0,
                   60, "an empty backlog", second.log)
        # m1's first response was recovered, m2's is new: the redelivered history counts
        # as duplicates, never again.
        assert second.value("brandpulse_first_response_seconds_count", policy="default",
                            **acme) == 2
        assert second.value("brandpulse_first_response_seconds_sum", policy="default",
                            **acme) == 5 * 60 + 30 * 60
        assert second.value("brandpulse_audience_messages_total", requires_reply="true",
                            **acme) == 2
        assert (second.value("brandpulse_duplicate_events_total", brand="acme") or 0) >= 3
    finally:
        second.kill()
