"""Bluesky filter throughput: Jetstream frames classified per second on one core.

    .venv/bin/python bench/bluesky_filter.py [--frames 200000] [--brands 1,100]

The connector must read the whole post stream (audience replies can only be found by
looking at every post), so its per-frame cost bounds what it keeps up with. Synthetic
frames shaped like Jetstream's v1 commits (made up, no copied data): 97% strangers' posts
(a third of them replies between strangers, some with mention facets, links and langs),
1% strangers' reposts, 2% concerning a brand (replies into its threads, mentions, its own
posts, reposts of them). Each frame goes through `BlueskyConnector.handle` into a
`MeteredSink` (prometheus counters included) over a writer that only records time, so the
number is the connector's whole in-process path minus the network. Frame->emit latency is
measured per emitted event from the start of `handle`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import string
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.commands.ingest import MeteredSink  # noqa: E402
from streams.config import parse_brands  # noqa: E402
from streams.events import SocialEvent  # noqa: E402
from streams.metrics import SourceMetrics  # noqa: E402
from streams.sources.bluesky import BlueskyConnector  # noqa: E402
from tests.jetstream_fake import encode, post, repost, uri  # noqa: E402

B32 = string.ascii_lowercase + "234567"
WORDS = ("the", "new", "today", "love", "coffee", "train", "late", "again", "great", "why",
         "order", "shoes", "weather", "election", "game", "music", "cat", "photo", "lol")


def did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choices(B32, k=24))


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(4, 40)))


def frames(count: int, brand_dids: list[str], rng: random.Random) -> list[str]:
    people = [did(rng) for _ in range(5000)]
    out: list[str] = []
    t = int(time.time() * 1e6) - count * 200
    for i in range(count):
        t += rng.randint(50, 350)
        author = rng.choice(people)
        rkey = "3k" + "".join(rng.choices(B32, k=11))
        roll = rng.random()
        if roll < 0.02:  # about a brand
            brand = rng.choice(brand_dids)
            kind = rng.random()
            if kind < 0.5:
                frame = post(author, t, rkey, sentence(rng), parent=uri(brand, f"b{i}"))
            elif kind < 0.75:
                frame = post(author, t, rkey, "@brand " + sentence(rng), mentions=(brand,))
            elif kind < 0.9:
                frame = post(brand, t, rkey, sentence(rng),
                             parent=uri(author, f"p{i}") if rng.random() < 0.6 else None)
            else:
                frame = repost(author, t, rkey, uri(brand, f"b{i}"))
        elif roll < 0.03:
            frame = repost(author, t, rkey, uri(rng.choice(people), f"p{i}"))
        else:
            other = rng.choice(people)
            reply = rng.random() < 0.35
            frame = post(author, t, rkey, sentence(rng),
                         parent=uri(other, f"p{i}") if reply else None,
                         root=uri(rng.choice(people), f"r{i}") if reply else None,
                         mentions=(other,) if rng.random() < 0.1 else ())
            if rng.random() < 0.2:
                frame["commit"]["record"]["embed"] = {
                    "$type": "app.bsky.embed.external",
                    "external": {"uri": "https://example.org/" + rkey, "title": sentence(rng),
                                 "description": sentence(rng)}}
        out.append(encode(frame))
    return out


class TimingWriter:
    def __init__(self) -> None:
        self.emitted: list[float] = []

    async def emit(self, event: SocialEvent) -> None:
        self.emitted.append(time.perf_counter())

    async def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def run(count: int, brand_count: int, seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    brand_dids = [did(rng) for _ in range(brand_count)]
    brands = parse_brands({"brand": [{"name": f"brand{i}", "handles": {"bluesky": [d]}}
                                     for i, d in enumerate(brand_dids)]})
    data = frames(count, brand_dids, rng)
    writer = TimingWriter()
    sink = MeteredSink(writer, SourceMetrics(), "bluesky")
    connector = BlueskyConnector(brands, "ws://unused/subscribe")
    latencies: list[float] = []
    started = time.perf_counter()
    for frame in data:
        before = len(writer.emitted)
        t0 = time.perf_counter()
        await connector.handle(frame, sink)
        for stamp in writer.emitted[before:]:
            latencies.append(stamp - t0)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"brands": brand_count, "frames": count, "seconds": elapsed,
            "frames_per_second": count / elapsed, "emitted": len(writer.emitted),
            "mean_bytes": statistics.fmean(len(f) for f in data),
            "emit_p50_us": latencies[len(latencies) // 2] * 1e6,
            "emit_p99_us": latencies[int(len(latencies) * 0.99)] * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--brands", default="1,100", help="comma-separated brand counts")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for brand_count in (int(b) for b in args.brands.split(",")):
        r = asyncio.run(run(args.frames, brand_count, args.seed))
        print(f"brands={r['brands']:>4}  frames={r['frames']:,}  mean {r['mean_bytes']:.0f} B"
              f"  {r['frames_per_second']:,.0f} frames/s  emitted={r['emitted']:,}  "
              f"frame->emit p50 {r['emit_p50_us']:.0f} us  p99 {r['emit_p99_us']:.0f} us")


if __name__ == "__main__":
    main()
