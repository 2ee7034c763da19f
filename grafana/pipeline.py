"""The Pipeline health board: is brandpulse itself healthy.

Workers up and their partitions, throughput, rejected and duplicate events, consumer lag
(from the workers and from the broker), rebalances, event freshness, the ingest sources and
the version each worker runs.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries

from grafana.panels import (
    PanelBuilder,
    add_row,
    dashboard,
    label_variable,
    multi_value,
    query,
    single_stat,
    state_timeline,
    table_panel,
    tq,
    ts,
)

# The worker variable as a PromQL matcher, and the ingest job the source panels read.
INSTANCE = 'job="brandpulse", instance=~"$instance"'
INGEST = 'job="brandpulse-ingest"'


def build() -> db.Dashboard:
    """Is brandpulse itself healthy: workers, throughput, rejects, lag, rebalances."""
    d = dashboard(
        "brandpulse-pipeline",
        "brandpulse · Pipeline health",
        "Workers, events per second, rejected events, consumer lag and rebalances.",
    ).with_variable(
        multi_value(
            label_variable("instance", "Worker", 'label_values(up{job="brandpulse"}, instance)')
        )
    )
    d = add_row(d, "Workers", _workers())
    d = add_row(d, "Throughput", _throughput())
    d = add_row(d, "Data quality", _data_quality())
    d = add_row(d, "Kafka", _kafka())
    d = add_row(d, "Freshness", _freshness())
    return add_row(d, "Sources", [*_sources(), _build_info()])


def _workers() -> list[PanelBuilder]:
    """How many workers answer, and whether they hold every partition between them."""
    return [
        single_stat(
            "Workers up",
            "Scrape targets of job brandpulse that answer.",
            [query('sum(up{job="brandpulse"})', instant=True)],
            steps=[(None, "red"), (1, "green")],
            decimals=0,
            w=4,
        ),
        single_stat(
            "Assigned partitions",
            "Sum over workers; should equal the partition count of the input topics.",
            [query(f"sum(brandpulse_assigned_partitions{{{INSTANCE}}})", instant=True)],
            decimals=0,
            w=4,
        ),
        state_timeline(
            "Worker up",
            "1 = scraped successfully.",
            query(f"up{{{INSTANCE}}}", "{{instance}}"),
            {"0": ("down", "red"), "1": ("up", "green")},
            w=16,
            h=4,
        ),
    ]


def _throughput() -> list[timeseries.Panel]:
    """Events per second per worker and per topic, and what one batch costs."""
    return [
        ts(
            "Events consumed per second, per worker",
            "From the recording rule instance:brandpulse_events_consumed:rate5m.",
            [
                query(
                    'instance:brandpulse_events_consumed:rate5m{instance=~"$instance"}',
                    "{{instance}}",
                )
            ],
            unit="ops",
            w=8,
        ),
        ts(
            "Events consumed per second, per topic",
            "All workers together.",
            [query("topic:brandpulse_events_consumed:rate5m", "{{topic}}")],
            unit="ops",
            w=8,
        ),
        ts(
            "Batch processing time",
            "p50 and p99 of one batch, per worker.",
            [
                query(
                    f"histogram_quantile({q}, sum by (instance, le) "
                    f"(rate(brandpulse_batch_processing_seconds_bucket{{{INSTANCE}}}[$__rate_interval])))",
                    f"{{{{instance}}}} p{p}",
                )
                for q, p in (("0.5", "50"), ("0.99", "99"))
            ],
            unit="s",
            w=8,
        ),
    ]


def _data_quality() -> list[timeseries.Panel]:
    """Events refused, seen twice or too late, and state records refused on restore."""
    return [
        ts(
            "Rejected events by reason",
            "malformed_json, schema, oversized, unknown_brand, unknown_platform, "
            "future_timestamp, key_mismatch.",
            [query("reason:brandpulse_events_rejected:rate5m", "{{reason}}")],
            unit="ops",
            w=8,
        ),
        ts(
            "Duplicate events per brand",
            "Events seen twice (redelivery, replays) and ignored.",
            [
                query(
                    "sum by (brand) (rate(brandpulse_duplicate_events_total[$__rate_interval]))",
                    "{{brand}}",
                )
            ],
            unit="ops",
            w=8,
        ),
        ts(
            "Late events per brand",
            "Events older than the processing window when they arrived.",
            [
                query(
                    "sum by (brand) (rate(brandpulse_late_events_total[$__rate_interval]))",
                    "{{brand}}",
                )
            ],
            unit="ops",
            w=8,
        ),
        ts(
            "State records skipped on restore",
            "Changelog records refused while rebuilding state (forged, truncated or of "
            "another format version). Anything above 0 deserves a look: see the runbook.",
            [
                query(
                    "sum by (instance, reason) "
                    "(increase(brandpulse_state_records_rejected_total[$__rate_interval]))",
                    "{{instance}} {{reason}}",
                )
            ],
            unit="short",
            w=8,
        ),
    ]


def _kafka() -> list[timeseries.Panel]:
    """Lag as the workers see it and as the broker does, and consumer-group rebalances."""
    return [
        ts(
            "Consumer lag per partition (workers)",
            "High watermark minus the last processed offset + 1, as reported by the "
            "worker that owns the partition.",
            [
                query(
                    f"max by (topic, partition) (brandpulse_consumer_lag_messages{{{INSTANCE}}})",
                    "{{topic}}/{{partition}}",
                )
            ],
            w=8,
        ),
        ts(
            "Consumer lag per topic (broker, kafka-exporter)",
            "From the broker, so it keeps growing even when no worker is alive.",
            [
                query(
                    'sum by (consumergroup, topic) (kafka_consumergroup_lag{job="kafka"})',
                    "{{consumergroup}} {{topic}}",
                )
            ],
            w=8,
        ),
        ts(
            "Rebalances",
            "Consumer-group rebalances per worker, per 5 minutes.",
            [
                query(
                    f"sum by (instance) (increase(brandpulse_rebalances_total{{{INSTANCE}}}[5m]))",
                    "{{instance}}",
                )
            ],
            bars=True,
            w=8,
        ),
    ]


def _freshness() -> list[timeseries.Panel]:
    """How old the newest processed event is, and how long events wait to be processed."""
    return [
        ts(
            "Newest processed event age per partition",
            "Wall time now minus created_at of the newest event processed on the partition, "
            "computed at scrape time: it climbs while a worker is stalled (and on a quiet "
            "partition, where lag stays 0). Alert: BrandpulseWorkerFallingBehind.",
            [
                query(
                    "max by (topic, partition) "
                    f"(brandpulse_newest_event_age_seconds{{{INSTANCE}}})",
                    "{{topic}}/{{partition}}",
                )
            ],
            unit="s",
            threshold_lines=[(None, "transparent"), (300, "red")],
        ),
        ts(
            "Event processing delay",
            "p50 and p99 of processing time minus created_at of the newest event of each "
            "partition's batch, per worker (includes the time spent waiting in Kafka).",
            [
                query(
                    f"histogram_quantile({q}, sum by (instance, le) (rate("
                    f"brandpulse_event_processing_delay_seconds_bucket{{{INSTANCE}}}[$__rate_interval])))",
                    f"{{{{instance}}}} p{p}",
                )
                for q, p in (("0.5", "50"), ("0.99", "99"))
            ],
            unit="s",
        ),
    ]


def _sources() -> list[timeseries.Panel]:
    """The `brandpulse ingest` connectors: connected, flowing, keeping up, refusing input."""
    return [
        ts(
            "Source connected",
            "1 while each `brandpulse ingest` connector is connected to its network "
            "(webhooks: listening). Alert: BrandpulseSourceDown (0 for 5 minutes).",
            [query(f"max by (source) (brandpulse_source_connected{{{INGEST}}})", "{{source}}")],
            unit="none",
            w=6,
        ),
        ts(
            "Source events per second",
            "Events each connector handed to the topics, by side.",
            [
                query(
                    "sum by (source, side) (rate(brandpulse_source_events_total"
                    f"{{{INGEST}}}[$__rate_interval]))",
                    "{{source}} {{side}}",
                )
            ],
            unit="reqps",
            w=6,
        ),
        ts(
            "Source lag",
            "Now minus the newest event time each connector reached. Alert: "
            "BrandpulseSourceLagging (above 5 minutes for 10 minutes).",
            [query(f"max by (source) (brandpulse_source_lag_seconds{{{INGEST}}})", "{{source}}")],
            unit="s",
            threshold_lines=[(None, "transparent"), (300, "red")],
            w=6,
        ),
        ts(
            "Source input rejected and skipped",
            "Rejected: wrong input (bad signature, schema, future time). Skipped: input "
            "deliberately ignored (strangers' posts, deletes...). Reconnects too.",
            [
                query(
                    "sum by (source, reason) (rate(brandpulse_source_rejected_total"
                    f"{{{INGEST}}}[$__rate_interval]))",
                    "rejected {{source}} {{reason}}",
                ),
                query(
                    "sum by (source, reason) (rate(brandpulse_source_skipped_total"
                    f"{{{INGEST}}}[$__rate_interval]))",
                    "skipped {{source}} {{reason}}",
                ),
                query(
                    "sum by (source) (rate(brandpulse_source_reconnects_total"
                    f"{{{INGEST}}}[$__rate_interval]))",
                    "reconnects {{source}}",
                ),
            ],
            unit="reqps",
            w=6,
        ),
    ]


def _build_info() -> PanelBuilder:
    """Which version each worker runs, full width under the sources."""
    return table_panel(
        "Build info",
        "Version running on each worker.",
        [tq(f"brandpulse_build_info{{{INSTANCE}}}")],
        w=24,
        h=5,
    )
