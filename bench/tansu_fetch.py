"""The embedded broker's CPU over a run, by producer linger: why bench/live.py lingers 50 ms.

tansu 0.6's memory storage reads every stored batch of a partition on each fetch (no offset
index), so a consumer that keeps up costs the broker more CPU the more batches the run has
written. Apache Kafka finds the fetch position through its offset index; the cost does not
grow there. Many tiny batches (a paced producer with a short linger over 12 partitions)
make it grow fastest. This runs the live bench's traffic (bench/_common.LiveTraffic, 100
brands, hot brand 50 %) through aiokafka's producer at `--rate`, with one plain aiokafka
consumer (no group) reading along as a worker would, and prints the broker's CPU and RSS
every 10 s, for each linger. No brandpulse worker runs.

    python bench/tansu_fetch.py [--rate 2500] [--duration 60] [--lingers 5,50]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import uvloop
from _common import LiveTraffic, brand_names, cpu_percent, make_async_producer, proc_sample
from aiokafka import AIOKafkaConsumer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.plumbing.broker import EmbeddedBroker

TOPICS = ("brandpulse.audience-messages", "brandpulse.brand-posts")
PARTITIONS = 6
WINDOW_SECONDS = 10.0


async def one_run(port: int, pid: int, rate: float, duration: float,
                  linger_ms: int) -> list[dict[str, Any]]:
    """Paced sending with a consumer reading along; one row per 10 s window."""
    producer = make_async_producer(f"kafka://127.0.0.1:{port}", linger_ms)
    consumer = AIOKafkaConsumer(*TOPICS, bootstrap_servers=f"127.0.0.1:{port}", group_id=None,
                                auto_offset_reset="earliest", fetch_max_wait_ms=100)
    await producer.start()
    await consumer.start()
    consumed = 0

    async def read_along() -> None:
        nonlocal consumed
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            consumed += sum(len(records) for records in batches.values())

    reader = asyncio.ensure_future(read_along())
    traffic = LiveTraffic(brand_names(100))
    rows: list[dict[str, Any]] = []
    start = tick = time.monotonic()
    window = proc_sample(pid)
    sent = 0
    try:
        while time.monotonic() - start < duration:
            target = int(rate * (time.monotonic() - start))
            while sent < target:
                (topic, key, value), _ = traffic.next(time.time())
                await producer.send(topic, key=key, value=value)
                sent += 1
            tick += 0.01
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
            if window is not None and time.monotonic() - window.at >= WINDOW_SECONDS:
                now = proc_sample(pid)
                rows.append({"at": round(time.monotonic() - start),
                             "broker_cpu_percent": cpu_percent(window, now),
                             "broker_rss_mb": now.rss_bytes // 2**20 if now else None,
                             "sent": sent, "consumed": consumed})
                window = now
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2500.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--lingers", default="5,50", help="producer lingers (ms), one run each")
    args = parser.parse_args(argv)
    lingers = [int(x) for x in args.lingers.split(",") if x.strip()]
    if args.rate <= 0 or args.duration <= 0 or not lingers or min(lingers) < 0:
        print("tansu_fetch: --rate and --duration must be > 0, --lingers ms >= 0",
              file=sys.stderr)
        return 2
    print(f"tansu fetch cost: {args.rate:g} events/s over {PARTITIONS}+{PARTITIONS} "
          f"partitions, one consumer reading along, {args.duration:g} s per linger")
    for linger in lingers:
        with EmbeddedBroker() as broker:
            admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{broker.port}")
            admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in TOPICS])
            admin.close()
            assert broker.process is not None
            rows = uvloop.run(one_run(broker.port, broker.process.pid, args.rate,
                                      args.duration, linger))
        print(f"  linger {linger} ms:")
        for row in rows:
            print(f"    {row['at']:>4} s  broker CPU {row['broker_cpu_percent'] or 0:>5.1f} %  "
                  f"RSS {row['broker_rss_mb'] or 0:>4} MB  consumed {row['consumed']:,} of "
                  f"{row['sent']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
