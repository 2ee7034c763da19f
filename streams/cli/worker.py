"""The long-running commands: `worker`, `topics`, `demo` and `ingest SOURCE`, each with its
arguments beside its handler."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import streams.cli.common as common
from streams.cli.common import (
    add_broker,
    add_partitions,
    brands_of,
    broker_unreachable,
    settings_of,
)
from streams.config import BrandsConfig, ConfigError, Settings, load_brands


def run_worker(settings: Settings, brands: BrandsConfig, loglevel: str = "info") -> None:
    """Serve /metrics, /healthz, /readyz and /api/ (own thread and event loop), then run the
    Faust worker until it is stopped. Without the internal key (and not in the explicit
    unsigned mode) it stops at once: it would believe forged control and share records."""
    import asyncio

    from streams.metrics import BrandpulseMetrics
    from streams.plumbing.web import WebServer
    from streams.worker.agents import tune_garbage_collector
    from streams.worker.app import create_app
    from streams.worker.health import run_until_exit
    from streams.worker.process import Worker

    try:
        import uvloop  # not on Windows (a platform marker in pyproject.toml)
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if not settings.require_internal_key("the worker"):
        logging.getLogger(__name__).warning(
            "BRANDPULSE_ALLOW_UNSIGNED: control and crisis-share records are neither signed "
            "nor verified; anyone who can write those topics steers every worker")
    common.check_broker(settings.broker)  # one line, not the client's 36-line bootstrap traceback
    metrics = BrandpulseMetrics()
    app, runtime = create_app(settings, brands, metrics)
    server = WebServer(metrics.registry, host=settings.metrics_host, port=settings.metrics_port,
                       api=runtime.api, health=runtime.health, ready=runtime.ready,
                       startup=runtime.startup, check=runtime.check)
    try:
        port = server.start()
    except OSError as exc:
        raise ConfigError(
            f"metrics_host/metrics_port: cannot listen on {settings.metrics_host}:"
            f"{settings.metrics_port} ({exc.strerror or exc}). Fix: pick a free port with "
            "--metrics-port and an address of this host with --metrics-host "
            "(127.0.0.1, or 0.0.0.0 in a container)") from None
    shown = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "::") else settings.metrics_host
    shown = f"[{shown}]" if ":" in shown else shown
    print(f"brandpulse worker: metrics on http://{shown}:{port}/metrics, "
          f"brand API on http://{shown}:{port}/api/brands, "
          f"probes /healthz /readyz /startupz (listening on {settings.metrics_host})", flush=True)
    tune_garbage_collector()  # streams/worker/agents.py: the worker's heap and allocation rate
    try:
        # A crash (e.g. the broker lost the state) ends with one stderr line and exit 75.
        worker = Worker(app, loglevel=loglevel, quiet=True)
        try:
            run_until_exit(worker)
        except SystemExit:
            if worker.start_failure is None:
                raise
            raise broker_unreachable(settings.broker) from worker.start_failure
    finally:
        server.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    run_worker(settings, brands_of(settings), args.loglevel)
    return 0


def add_worker_arguments(worker: argparse.ArgumentParser) -> None:
    add_broker(worker)
    add_partitions(worker)
    worker.add_argument("--brands", help="brands TOML file (env BRANDPULSE_BRANDS)")
    worker.add_argument("--metrics-port", type=int,
                        help="port of /metrics, /healthz, /readyz and /api (env "
                             "BRANDPULSE_METRICS_PORT; default 9100)")
    worker.add_argument("--metrics-host",
                        help="address /metrics, /healthz, /readyz and /api listen on "
                             "(default 127.0.0.1; 0.0.0.0 in containers; env "
                             "BRANDPULSE_METRICS_HOST)")
    worker.add_argument("--app-id", help="consumer group and table prefix (env "
                                         "BRANDPULSE_APP_ID; default brandpulse)")
    worker.add_argument("--data-dir", help="Faust data directory (env BRANDPULSE_DATA_DIR; "
                                           "default ./brandpulse-data)")
    worker.add_argument("--loglevel", default="warning",
                        choices=["debug", "info", "warning", "error", "critical"],
                        help="Faust worker log level (default warning)")


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.plumbing.broker import create_topics

    settings = settings_of(args)
    common.check_broker(settings.broker)
    created = create_topics(settings)
    print(f"created: {', '.join(created) or 'nothing (all topics exist)'}")
    return 0


def add_topics_arguments(topics: argparse.ArgumentParser) -> None:
    topics.add_argument("action", choices=["create"], help="create: create the missing "
                                                           "topics, check the existing ones")
    add_broker(topics)
    add_partitions(topics)


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.commands.demo import run_demo

    return run_demo(speed=args.speed, metrics_port=args.metrics_port, broker=args.broker,
                    stop_after=args.seconds)


def add_demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--speed", type=float, default=600.0,
                      help="event-time acceleration (default 600: 10 min per second)")
    demo.add_argument("--metrics-port", type=int, default=None,
                      help="port of the worker's /metrics on 127.0.0.1 (default 9100, or a "
                           "free port when 9100 is taken; 0: a free port)")
    demo.add_argument("--broker", help="use this Kafka instead of the embedded broker")
    demo.add_argument("--seconds", type=float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C)")


def cmd_ingest(args: argparse.Namespace) -> int:
    """Run one live connector until SIGINT/SIGTERM (commands/ingest.py); 0 after flushing."""
    from streams.commands.ingest import CONNECTORS, make_writer, run_ingest

    brands = load_brands(args.brands)
    registered = CONNECTORS[args.source]
    connector = registered.from_args(args, brands)
    writer = make_writer(args.broker, args.out, args.source)
    port = registered.metrics_port if args.metrics_port is None else args.metrics_port
    return run_ingest(connector, writer, port, args.metrics_host)


def add_ingest_parsers(commands: Any, debug: argparse.ArgumentParser, connectors: bool) -> None:
    """`ingest SOURCE` for every registered connector, each adding its own arguments.

    Why `connectors` may be False: the connectors' modules (aiohttp, the codecs) take
    0.35 s to import, which every other command would pay for nothing.
    """
    ingest = commands.add_parser("ingest", help="live sources into the topics or a JSONL file",
                                 parents=[debug])
    sources = ingest.add_subparsers(dest="source", required=True)
    if not connectors:
        return
    from streams.commands.ingest import CONNECTORS

    for name, connector in CONNECTORS.items():
        p = sources.add_parser(name, help=connector.help, parents=[debug])
        p.add_argument("--brands", required=True, help="brands TOML file")
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--broker", help="produce to the input topics: kafka://HOST:PORT")
        target.add_argument("--out", metavar="FILE.jsonl", help="append JSONL lines instead")
        p.add_argument("--metrics-port", type=int,
                       help=f"port of this source's /metrics (default "
                            f"{connector.metrics_port}; 0 picks a free one)")
        p.add_argument("--metrics-host", default="127.0.0.1",
                       help="address /metrics listens on (default 127.0.0.1)")
        p.set_defaults(run=cmd_ingest)
        connector.add_arguments(p)
