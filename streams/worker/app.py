"""The Faust application factory: one worker's app, its runtime and its agents.

`create_app` is a factory (never a module-level app) so that tests and the demo can run
several workers with different settings in one process tree.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from faust.types import TP

from streams.config import Settings
from streams.core.brand import BrandsConfig
from streams.metrics import BrandpulseMetrics
from streams.worker.agents import register_agents
from streams.worker.lean_faust import QuietMonitor, lean_faust
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)


def create_app(settings: Settings, brands: BrandsConfig,
               metrics: BrandpulseMetrics | None = None) -> tuple[faust.App, Runtime]:
    """Build a Faust app with its topics, table, agent and timers."""
    app = faust.App(settings.app_id, **faust_options(settings))
    lean_faust(app)
    metrics = metrics or BrandpulseMetrics()
    metrics.initialise((settings.topics.audience_messages, settings.topics.brand_posts),
                       brands.get)
    runtime = Runtime(app, settings, brands, metrics)
    runtime.probes = register_agents(app, runtime)
    wait_ms = settings.consumer_fetch_max_wait_ms
    if wait_ms is not None:
        @app.on_partitions_assigned.connect  # type: ignore[arg-type]  # Faust types receivers too narrowly
        async def shorten_fetch_wait(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
            set_fetch_max_wait(app.consumer, wait_ms)
    return app, runtime


def faust_options(settings: Settings) -> dict[str, Any]:
    """The Faust app's settings for one worker."""
    options: dict[str, Any] = {
        "broker": settings.broker,
        "store": "memory://",
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "datadir": settings.data_dir,
        "web_enabled": False,
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": settings.heartbeat_interval_seconds,
        "stream_wait_empty": False,
        "producer_acks": -1,
        "Monitor": QuietMonitor,
    }
    if settings.producer_max_batch_size is not None:
        options["producer_max_batch_size"] = settings.producer_max_batch_size
    return options


def set_fetch_max_wait(consumer: Any, wait_ms: int) -> bool:
    """Set how long the worker's Kafka consumer lets the broker hold a fetch. Faust passes a
    fixed 1500 ms to aiokafka; Kafka answers as soon as a record arrives, but tansu 0.6
    holds a waiting fetch for up to ~half that after one arrives, so events sit on the
    broker (docs/tansu.md). aiokafka reads the value for every fetch request: set after start, it
    takes effect from the next fetch. Returns False (and logs) if the client has changed
    shape and the setting could not be applied."""
    client: Any = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    fetcher: Any = getattr(client, "_fetcher", None)
    if client is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        log.warning("consumer_fetch_max_wait_ms=%d not applied: the Kafka client has no "
                    "fetcher where it was expected (faust-streaming/aiokafka version?)", wait_ms)
        return False
    if fetcher._fetch_max_wait_ms != wait_ms:
        client._fetch_max_wait_ms = fetcher._fetch_max_wait_ms = wait_ms
        log.info("consumer fetch wait set to %d ms", wait_ms)
    return True
