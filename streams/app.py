"""The Faust application factory: one worker's app, its runtime and its agents.

`create_app` is a factory (never a module-level app) so that tests and the demo can run
several workers with different settings in one process tree.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.agents import register_agents
from streams.config import Settings
from streams.core.brand import BrandsConfig
from streams.metrics import BrandpulseMetrics
from streams.runtime import Runtime


def create_app(settings: Settings, brands: BrandsConfig,
               metrics: BrandpulseMetrics | None = None) -> tuple[faust.App, Runtime]:
    """Build a Faust app with its topics, table, agent and timers."""
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
    }
    if settings.producer_max_batch_size is not None:
        options["producer_max_batch_size"] = settings.producer_max_batch_size
    app = faust.App(settings.app_id, **options)
    metrics = metrics or BrandpulseMetrics()
    metrics.initialise((settings.topics.audience_messages, settings.topics.brand_posts),
                       brands.get)
    runtime = Runtime(app, settings, brands, metrics)
    runtime.probes = register_agents(app, runtime)
    return app, runtime
