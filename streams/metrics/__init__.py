"""Every metric of brandpulse: the one package that defines metrics (prometheus-client).

    families  the brand metric families: each brand gauge, counter and histogram's name,
              labels and help, as tables
    worker    a worker's metrics (`BrandpulseMetrics`): the pipeline's, and the owned
              brands' counters (`BrandCounters`, from persisted totals) and gauges
              (`BrandGauges`, from frozen snapshots), both read at scrape time
    sources   a `brandpulse ingest` process's metrics (`SourceMetrics`)
    render    the text format of /metrics, byte for byte `generate_latest`, cheaper
              (`TextRenderer`, which reads prometheus-client's private fields)

Labels are bounded by construction: brand and platform come from the brands file,
`reason`, `kind`, `window` and `requires_reply` from fixed enumerations, `topic` and
`partition` from the input topics, `policy` from the brand's SLA policies (plus "default"),
`agent` from the brand's listed agents (plus "other"). Ids, authors and hashtags never
become labels. Import from `streams.metrics`; the submodules are its sections.
"""

from prometheus_client.metrics import disable_created_metrics

from streams.metrics.families import (
    BRAND_GAUGES,
    BRAND_HELP,
    CRISIS_ACTIVE,
    CRISIS_ACTIVE_HELP,
    brand_counter_families,
    brand_gauge_families,
)
from streams.metrics.render import TextRenderer
from streams.metrics.sources import SourceMetrics
from streams.metrics.worker import (
    BATCH_BUCKETS,
    FIRST_RESPONSE_BUCKETS,
    FRESH_SERIES_SECONDS,
    PROCESSING_DELAY_BUCKETS,
    VOLUME_TERMS_SCORE,
    BrandCounters,
    BrandGauges,
    BrandpulseMetrics,
    NewestEventAge,
    SnapshotSource,
)

# No `_created` samples: in the text format Prometheus stores each as one more series per
# counter and histogram child (a quarter of a brand's series), and no rule or dashboard
# reads them; rate() handles counter resets without them. A process-wide switch of
# prometheus-client, read at each scrape; here, so that importing any section sets it.
disable_created_metrics()

__all__ = [
    "BATCH_BUCKETS",
    "BRAND_GAUGES",
    "BRAND_HELP",
    "CRISIS_ACTIVE",
    "CRISIS_ACTIVE_HELP",
    "FIRST_RESPONSE_BUCKETS",
    "FRESH_SERIES_SECONDS",
    "PROCESSING_DELAY_BUCKETS",
    "VOLUME_TERMS_SCORE",
    "BrandCounters",
    "BrandGauges",
    "BrandpulseMetrics",
    "NewestEventAge",
    "SnapshotSource",
    "SourceMetrics",
    "TextRenderer",
    "brand_counter_families",
    "brand_gauge_families",
]
