"""`brandpulse demo`: the whole pipeline on one machine, live, in accelerated time.

Embedded broker (unless --broker) → topics → one worker → the synthetic scenario replayed
at N× real time → a per-brand summary read back from the worker's own /metrics. Once the
replay is done the worker keeps running in live time (waiting grows, SLAs pass) until
Ctrl-C, SIGTERM or SIGHUP (a closed terminal), which stop the worker and the broker and
remove the demo's temporary folder (kept, and named, when the worker failed).
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.config import ENVIRONMENT, BrandsConfig, parse_brands, settings_from
from streams.events import RecordedEvent
from streams.plumbing.broker import EmbeddedBroker, create_topics, free_port
from streams.plumbing.web import CHECK_TOKEN_ENV
from streams.sources.synthetic import SCENARIO_BRANDS, brands_toml, generate_scenario
from streams.sources.synthetic_inbox import INBOX_BRAND_TABLE, generate_inbox

DEMO_DAYS = 2.0
SUMMARY_EVERY_SECONDS = 5.0
DEFAULT_METRICS_PORT = 9100
METRICS_HOST = "127.0.0.1"
INTERNAL_KEY_ENV = ENVIRONMENT["internal_key"][0]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
SUMMARY_LEGEND = """\
legend: need reply = messages requiring an answer, since the start; answered = of them, with a
  first reply; breaches = SLA breaches (1 h target; slow counts its business hours only);
  waiting = unanswered now; oldest h = age of the oldest waiting message, hours; mean min =
  mean first-response time since the start, minutes; reply rate = answered / (answered +
  overdue) over the last 24 h of event time; robot = robot score 0-1 (24 h); crisis = 1
  while the brand's own audience shows a crisis (the line under the table says whether one
  is detected across brands, which every brand's posts are judged against); tone-deaf =
  promotional or jokey posts published during either; tmpl = share of replies that
  near-duplicate another (24 h; the robot pastes one line, the other desks write theirs);
  align = topic alignment of broadcasts with the audience (7 days); vol x = audience
  messages of the last 15 min against the brand's 7-day hourly mean (the storm's burst
  makes psycho's a spike: BrandMentionVolumeSpike); '-' = not enough data yet."""


#: The demo's brands: the scenario's five and the helpdesk, a Chatwoot inbox.
DEMO_BRANDS: dict[str, Any] = {**SCENARIO_BRANDS,
                               "brand": [*SCENARIO_BRANDS["brand"], INBOX_BRAND_TABLE]}


def demo_brands() -> BrandsConfig:
    """The demo brands, validated exactly as a brands file would be."""
    return parse_brands(DEMO_BRANDS, "demo brands")


def write_demo_brands_toml(path: str | os.PathLike[str]) -> None:
    """The demo brands as a brands TOML file, for the demo's worker (and tests)."""
    Path(path).write_text(brands_toml(DEMO_BRANDS), encoding="utf-8")


def demo_events(days: float = DEMO_DAYS, end: float | None = None) -> list[RecordedEvent]:
    """The scenario and the helpdesk's conversations, ending now: replayed live, their last
    events are current. Merged on time, each keeping its own order (the scenario's
    deliberate disorder included)."""
    end = time.time() if end is None else end
    duration = days * 86400
    start = end - duration
    return list(heapq.merge(generate_scenario(start, duration), generate_inbox(start, duration),
                            key=lambda record: record.created_at))


def _until(events: list, stop: threading.Event) -> Iterator:
    """The events, until `stop` is set: lets Ctrl-C end the replay before the broker."""
    for event in events:
        if stop.is_set():
            return
        yield event


def _scrape(port: int) -> dict[tuple[str, str], float]:
    """(metric, brand) -> value, summed over other labels; empty if not reachable.

    `crisis_active` is read per scope: a brand, or "global"."""
    values: dict[tuple[str, str], float] = {}
    try:
        with urllib.request.urlopen(f"http://{METRICS_HOST}:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return values
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        label = 'scope="' if line.startswith("brandpulse_crisis_active{") else 'brand="'
        if label not in line:
            continue
        name = line.split("{", 1)[0]
        brand = line.split(label, 1)[1].split('"', 1)[0]
        if ('window="1h"' in line or 'requires_reply="false"' in line
                or name == "brandpulse_audience_sentiment"):
            continue
        if name == "brandpulse_oldest_unanswered_age_seconds":  # max over platforms
            value = float(line.rsplit(" ", 1)[1])
            values[(name, brand)] = max(values.get((name, brand), 0.0), value)
            continue
        with contextlib.suppress(ValueError):
            values[(name, brand)] = values.get((name, brand), 0.0) + float(line.rsplit(" ", 1)[1])
    return values


def read_metrics(port: int) -> dict[tuple[str, str], float]:
    """The worker's /metrics as the summary reads it: scraped twice, the second kept.

    Why: the worker shows a new brand's counters at 0 to the first scrape after the brand
    appears (`BrandCounters`: Prometheus' rate() must see a series start at 0). The demo
    is that first scrape, so its first summary printed need 0, answered 0 and breaches 0
    beside 14-34 customers waiting (a gauge, shown at once)."""
    if not _scrape(port):  # the first scrape: new brands' counters at 0
        return {}
    return _scrape(port)


def _cell(value: float, width: int, digits: int) -> str:
    """A number, or '-' when there is none yet (NaN: no data in the window)."""
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:>{width}.{digits}f}"


def format_summary(values: dict[tuple[str, str], float]) -> str:
    """The live per-brand table (see SUMMARY_LEGEND); never shows 'nan'."""
    brands = sorted({brand for _, brand in values} - {"global"}, key=str.casefold)
    header = (f"{'brand':<10} {'need reply':>10} {'answered':>8} {'breaches':>8} "
              f"{'waiting':>7} {'oldest h':>8} {'mean min':>8} {'reply rate':>10} "
              f"{'robot':>5} {'crisis':>6} {'tone-deaf':>9} {'tmpl':>5} {'align':>5} {'vol x':>5}")
    lines = [header]
    in_global_crisis = values.get(("brandpulse_crisis_active", "global"), 0.0)
    for brand in brands:
        def v(name: str, b: str = brand) -> float:
            default = 0.0 if name.endswith(("_total", "_count", "_sum")) else math.nan
            return values.get((name, b), default)
        answered = v("brandpulse_first_response_seconds_count")
        mean = (v("brandpulse_first_response_seconds_sum") / answered / 60 if answered
                else math.nan)
        needed = values.get(("brandpulse_audience_messages_total", brand), 0.0)
        crisis = values.get(("brandpulse_crisis_active", brand), 0.0)
        usual = v("brandpulse_audience_volume_baseline")
        volume = v("brandpulse_audience_volume_rate") / usual if usual else math.nan
        lines.append(
            f"{brand:<10} {needed:>10.0f} {answered:>8.0f} "
            f"{v('brandpulse_sla_breaches_total'):>8.0f} "
            f"{_cell(v('brandpulse_unanswered_messages'), 7, 0)} "
            f"{_cell(v('brandpulse_oldest_unanswered_age_seconds') / 3600, 8, 1)} "
            f"{_cell(mean, 8, 1)} {_cell(v('brandpulse_reply_rate'), 10, 2)} "
            f"{_cell(v('brandpulse_robot_score'), 5, 2)} {crisis:>6.0f} "
            f"{v('brandpulse_tone_deaf_posts_total'):>9.0f} "
            f"{_cell(v('brandpulse_templated_reply_ratio'), 5, 2)} "
            f"{_cell(v('brandpulse_topic_alignment'), 5, 2)} "
            f"{_cell(volume, 5, 1)}")
    lines.append("crisis across brands: " + (
        "detected (every brand's posts are judged against it)" if in_global_crisis
        else "none"))
    return "\n".join(lines)


#: Drafts the demo sends to the worker's pre-publish check at each summary (docs/check.md):
#: the robot's broadcast while customers wait (hold), the psycho's sale during the storm
#: (block while the storm is on, hold while it emerges, ok before and after).
DEMO_DRAFTS = (
    ("robot", "New arrivals are in! Discover the collection today."),
    ("psycho", "Flash sale: 30% off everything today only, shop now!"),
)


def check_drafts(port: int, token: str) -> list[str]:
    """One line per demo draft: the verdict the worker's POST /api/check gives it now."""
    from streams.commands.check_client import post_check
    from streams.config import ConfigError

    lines = []
    for brand, text in DEMO_DRAFTS:
        try:
            status, answer = post_check(f"http://{METRICS_HOST}:{port}/api/check", token,
                                        {"brand": brand, "text": text}, timeout=2)
        except (ConfigError, OSError):
            continue
        if status == 200:
            summary = str(answer.get("summary", ""))
            lines.append(f"check      {brand} draft {text[:40]!r}: {summary}"[:200])
    return lines


def port_is_free(port: int, host: str = METRICS_HOST) -> bool:
    """Can a server listen on host:port now? (A check before starting anything.)

    SO_REUSEADDR as servers set it: connections of a previous run in TIME_WAIT do not
    hold the port, a listening server does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def choose_metrics_port(requested: int | None) -> tuple[int | None, str | None]:
    """(port, note): the requested port if free; without a request 9100, or a free port
    when 9100 is taken; (None, one-line error) when a requested port is taken."""
    if requested == 0:
        return free_port(), None
    if requested is not None:
        if port_is_free(requested):
            return requested, None
        return None, (f"port {requested} on {METRICS_HOST} is already in use. Fix: stop what "
                      f"listens there, or pass another --metrics-port (0 picks a free one)")
    if port_is_free(DEFAULT_METRICS_PORT):
        return DEFAULT_METRICS_PORT, None
    port = free_port()
    return port, f"port {DEFAULT_METRICS_PORT} is in use: metrics on port {port} instead"


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@dataclass
class _Demo:
    """What one demo run started, so that `stop` can end each part (bounded in time)."""

    workdir: Path
    port: int
    embedded: EmbeddedBroker | None = None
    worker: subprocess.Popen[bytes] | None = None
    worker_log: Any = None
    sender: threading.Thread | None = None
    stop_sending: threading.Event = field(default_factory=threading.Event)
    keep: bool = False  # the folder outlives the demo only when its logs explain a failure

    def start_broker(self, broker: str | None) -> str:
        """The broker's URL, with the topics created: `broker`, or the embedded one."""
        if broker is None:
            self.embedded = EmbeddedBroker(log_path=str(self.workdir / "broker.log"))
            self.embedded.start()
            broker = self.embedded.url
        create_topics(settings_from(broker=broker))
        print(f"broker     {broker}" + (" (embedded tansu)" if self.embedded else ""))
        return broker

    def start_worker(self, broker_url: str, brands_path: Path) -> str:
        """Start the worker on `broker_url`, print how to reach it; the check token."""
        settings = settings_from(broker=broker_url)
        self.worker_log = open(self.workdir / "worker.log", "wb")  # noqa: SIM115
        command = [sys.executable, "-m", "streams.cli", "worker", "--broker", broker_url,
                   "--brands", str(brands_path), "--metrics-port", str(self.port),
                   "--metrics-host", METRICS_HOST,
                   "--app-id", f"brandpulse-demo-{os.getpid()}",
                   "--data-dir", str(self.workdir / "worker-data")]
        if self.embedded:
            command.append("--tansu-compat")
        # The check route is write-shaped: authenticated. An exported token is kept, so a
        # check typed in another terminal works; else one for this demo, printed below.
        token = os.environ.get(CHECK_TOKEN_ENV) or secrets.token_urlsafe(24)
        # Control and share records are signed (streams/wire/signing.py): the user's key, or
        # one for this demo, in a file that `brandpulse crisis` can be given.
        key = settings.internal_key or secrets.token_hex(32)
        key_path = self.workdir / "internal.key"
        key_path.touch(mode=0o600)
        key_path.write_text(key)
        self.worker = subprocess.Popen(command, stdout=self.worker_log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True,
                                       env={**os.environ, CHECK_TOKEN_ENV: token,
                                            INTERNAL_KEY_ENV: key})
        port = self.port
        print(f"metrics    http://{METRICS_HOST}:{port}/metrics")
        print(f"check      {CHECK_TOKEN_ENV}={token} brandpulse check --brand psycho "
              f"--url http://{METRICS_HOST}:{port}/api/check \"Flash sale: 30% off, shop now!\"")
        print(f"crisis     BRANDPULSE_INTERNAL_KEY=$(cat {key_path}) brandpulse crisis "
              f"declare NAME --keywords ... --broker {broker_url}")
        pids = f"worker pid {self.worker.pid}" + (
            f", broker pid {self.embedded.process.pid}"
            if self.embedded is not None and self.embedded.process is not None else "")
        print(f"logs       {self.workdir} ({pids}; removed when the demo stops)")
        return token

    def start_replay(self, broker_url: str, speed: float) -> None:
        """The scenario replayed in a thread (its plan printed first, with the legend)."""
        from streams.commands.replay import replay

        events = demo_events()
        print(f"scenario   {len(events)} events over {DEMO_DAYS:g} days of event time, "
              f"replayed at {speed:g}x (about {DEMO_DAYS * 86400 / speed / 60:.0f} min); "
              "a storm hits the psycho brand's audience past halfway; then the worker keeps "
              "running in live time until Ctrl-C")
        print(SUMMARY_LEGEND, flush=True)
        self.sender = threading.Thread(
            target=replay, daemon=True,
            kwargs={"events": _until(events, self.stop_sending), "broker": broker_url,
                    "topics": settings_from(broker=broker_url).topics, "speed": speed,
                    "total": len(events), "progress": False})
        self.sender.start()

    def summarise(self, token: str, stop_after: float | None) -> int:
        """A summary every SUMMARY_EVERY_SECONDS until `stop_after` (or forever); 1 when
        the worker exits."""
        assert self.worker is not None and self.sender is not None
        started = time.monotonic()
        replaying = True
        while stop_after is None or time.monotonic() - started < stop_after:
            time.sleep(min(SUMMARY_EVERY_SECONDS,
                           max(0.1, (stop_after or 1e9) - (time.monotonic() - started))))
            if self.worker.poll() is not None:
                self.keep = True
                print(f"worker exited with code {self.worker.returncode}; "
                      f"see {self.workdir}/worker.log")
                return 1
            if replaying and not self.sender.is_alive():
                replaying = False
                print("\nreplay done: the worker keeps running in live time (customers keep "
                      "waiting, SLAs keep passing); Ctrl-C to stop", flush=True)
            values = read_metrics(self.port)
            if values:
                print(f"\n-- {time.strftime('%H:%M:%S')} "
                      f"({'replaying' if self.sender.is_alive() else 'replay done, live'})")
                print(format_summary(values))
                print("\n".join(check_drafts(self.port, token)), flush=True)
        return 0

    def stop(self) -> None:
        """Stop the replay (10 s), the worker (15 s) and the broker (10 s); remove the
        folder unless kept."""
        self.stop_sending.set()
        if self.sender is not None:
            self.sender.join(10)
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(15)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(5)
        if self.embedded is not None:
            self.embedded.stop()
        if self.worker_log is not None:
            self.worker_log.close()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def run_demo(speed: float = 600.0, metrics_port: int | None = None, broker: str | None = None,
             stop_after: float | None = None) -> int:
    """Run until Ctrl-C, SIGTERM or SIGHUP (or `stop_after` seconds); the exit code.

    `metrics_port` None: 9100, or a free port when 9100 is taken (said in one line); a
    given port that is taken ends the demo before anything starts (exit code 2)."""
    port, note = choose_metrics_port(metrics_port)
    if port is None:
        print(f"brandpulse demo: {note}", file=sys.stderr)
        return 2
    # The summary is for people: client libraries' connection chatter goes to the logs only.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    handled: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        handled = {signal.SIGINT: signal.getsignal(signal.SIGINT)}
        handled.update((sig, signal.signal(sig, _raise_interrupt)) for sig in STOP_SIGNALS)
    demo = _Demo(Path(tempfile.mkdtemp(prefix="brandpulse-demo-")), port)
    brands_path = demo.workdir / "brands.toml"
    write_demo_brands_toml(brands_path)
    try:
        if note:
            print(note)
        broker_url = demo.start_broker(broker)
        token = demo.start_worker(broker_url, brands_path)
        demo.start_replay(broker_url, speed)
        return demo.summarise(token, stop_after)
    except KeyboardInterrupt as interrupt:
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print(f"\nstopping ({str(interrupt) or 'Ctrl-C'})…", flush=True)
        return 0
    except Exception:
        demo.keep = True  # its logs (broker.log, worker.log) say why
        raise
    finally:
        # Cleanup is bounded and not interruptible: a second signal must not leave the
        # worker or the broker running.
        for sig in handled:
            signal.signal(sig, signal.SIG_IGN)
        demo.stop()
        for sig, previous in handled.items():
            signal.signal(sig, previous)
