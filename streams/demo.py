"""`brandpulse demo`: the whole pipeline on one machine, live, in accelerated time.

Embedded broker (unless --broker) → topics → one worker → the synthetic scenario replayed
at N× real time → a per-brand summary read back from the worker's own /metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from streams.broker import EmbeddedBroker, create_topics
from streams.config import settings_from
from streams.sources.synthetic import generate_scenario, write_scenario_brands_toml

DEMO_DAYS = 2.0
SUMMARY_EVERY_SECONDS = 5.0


def demo_events(days: float = DEMO_DAYS, end: float | None = None) -> list:
    """The scenario, ending now: replayed live, its last events are current."""
    end = time.time() if end is None else end
    duration = days * 86400
    return generate_scenario(end - duration, duration)


def _until(events: list, stop: threading.Event) -> Iterator:
    """The events, until `stop` is set: lets Ctrl-C end the replay before the broker."""
    for event in events:
        if stop.is_set():
            return
        yield event


def _scrape(port: int) -> dict[tuple[str, str], float]:
    """(metric, brand) -> value, summed over other labels; empty if not reachable."""
    values: dict[tuple[str, str], float] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return values
    for line in text.splitlines():
        if line.startswith("#") or 'brand="' not in line:
            continue
        name = line.split("{", 1)[0]
        brand = line.split('brand="', 1)[1].split('"', 1)[0]
        if 'window="1h"' in line or 'requires_reply="false"' in line:
            continue
        if name == "brandpulse_oldest_unanswered_age_seconds":  # max over platforms
            value = float(line.rsplit(" ", 1)[1])
            values[(name, brand)] = max(values.get((name, brand), 0.0), value)
            continue
        with contextlib.suppress(ValueError):
            values[(name, brand)] = values.get((name, brand), 0.0) + float(line.rsplit(" ", 1)[1])
    return values


def format_summary(values: dict[tuple[str, str], float]) -> str:
    brands = sorted({brand for _, brand in values})
    header = (f"{'brand':<10} {'need reply':>10} {'answered':>8} {'breaches':>8} "
              f"{'waiting':>7} {'oldest h':>8} {'p. mean min':>11} {'reply rate':>10} "
              f"{'robot':>5}")
    lines = [header]
    for brand in brands:
        def v(name: str, b: str = brand) -> float:
            default = 0.0 if name.endswith(("_total", "_count", "_sum")) else float("nan")
            return values.get((name, b), default)
        answered = v("brandpulse_first_response_seconds_count")
        mean = v("brandpulse_first_response_seconds_sum") / answered / 60 if answered else 0
        needed = values.get(("brandpulse_audience_messages_total", brand), 0.0)
        lines.append(
            f"{brand:<10} {needed:>10.0f} {answered:>8.0f} "
            f"{v('brandpulse_sla_breaches_total'):>8.0f} "
            f"{v('brandpulse_unanswered_messages'):>7.0f} "
            f"{v('brandpulse_oldest_unanswered_age_seconds') / 3600:>8.1f} {mean:>11.1f} "
            f"{v('brandpulse_reply_rate'):>10.2f} {v('brandpulse_robot_score'):>5.2f}")
    return "\n".join(lines)


def run_demo(speed: float = 600.0, metrics_port: int = 9100, broker: str | None = None,
             stop_after: float | None = None) -> int:
    """Run until Ctrl-C (or `stop_after` seconds); returns the exit code."""
    from streams.replay import replay

    # The summary is for people: client libraries' connection chatter goes to the logs only.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    workdir = Path(tempfile.mkdtemp(prefix="brandpulse-demo-"))
    brands_path = workdir / "brands.toml"
    write_scenario_brands_toml(brands_path)
    embedded = None if broker else EmbeddedBroker(log_path=str(workdir / "broker.log")).start()
    broker_url = broker or embedded.url  # type: ignore[union-attr]
    worker: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    sender: threading.Thread | None = None
    try:
        settings = settings_from(broker=broker_url)
        create_topics(settings)
        print(f"broker     {broker_url}" + (" (embedded tansu)" if embedded else ""))
        worker_log = open(workdir / "worker.log", "wb")  # noqa: SIM115
        command = [sys.executable, "-m", "streams.cli", "worker", "--broker", broker_url,
                   "--brands", str(brands_path), "--metrics-port", str(metrics_port),
                   "--app-id", f"brandpulse-demo-{os.getpid()}",
                   "--data-dir", str(workdir / "worker-data")]
        if embedded:
            command.append("--tansu-compat")
        worker = subprocess.Popen(command, stdout=worker_log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        print(f"metrics    http://127.0.0.1:{metrics_port}/metrics")
        print(f"logs       {workdir}")
        events = demo_events()
        print(f"scenario   {len(events)} events over {DEMO_DAYS:g} days of event time, "
              f"replayed at {speed:g}x (about {DEMO_DAYS * 86400 / speed / 60:.0f} min); "
              "Ctrl-C to stop")
        sender = threading.Thread(
            target=replay, daemon=True,
            kwargs={"events": _until(events, stop), "broker": broker_url,
                    "topics": settings.topics, "speed": speed, "total": len(events),
                    "progress": False})
        sender.start()
        started = time.monotonic()
        while stop_after is None or time.monotonic() - started < stop_after:
            time.sleep(min(SUMMARY_EVERY_SECONDS,
                           max(0.1, (stop_after or 1e9) - (time.monotonic() - started))))
            if worker.poll() is not None:
                print(f"worker exited with code {worker.returncode}; see {workdir}/worker.log")
                return 1
            values = _scrape(metrics_port)
            if values:
                print(f"\n-- {time.strftime('%H:%M:%S')} "
                      f"({'replaying' if sender.is_alive() else 'replay done, live'})")
                print(format_summary(values), flush=True)
        return 0
    except KeyboardInterrupt:
        print("\nstopping…")
        return 0
    finally:
        stop.set()
        if sender is not None:
            sender.join(10)
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        if embedded is not None:
            embedded.stop()
