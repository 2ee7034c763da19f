"""The metric contract between the workers and the ops kit, in one place.

Dashboards and rules may only name metrics listed here; tests/ops fails otherwise, so a
renamed metric cannot silently blank a panel or disarm an alert. CORE is what the workers
export today; BEHAVIOUR is the next issue and is validated apart until it ships. The lead
may later import these names from the package instead.
"""

from __future__ import annotations

from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]

# Family name as exposed (counters carry _total) -> type.
CORE: dict[str, MetricType] = {
    # reply SLA and robot
    "brandpulse_first_response_seconds": "histogram",
    "brandpulse_first_response_business_seconds": "histogram",
    "brandpulse_audience_messages_total": "counter",
    "brandpulse_sla_met_total": "counter",
    "brandpulse_sla_breaches_total": "counter",
    "brandpulse_unanswered_messages": "gauge",
    "brandpulse_oldest_unanswered_age_seconds": "gauge",
    "brandpulse_messages_expired_unanswered_total": "counter",
    "brandpulse_late_replies_total": "counter",
    "brandpulse_sla_target_seconds": "gauge",
    "brandpulse_brand_posts_total": "counter",
    "brandpulse_broadcast_ratio": "gauge",
    "brandpulse_reply_rate": "gauge",
    "brandpulse_robot_score": "gauge",
    "brandpulse_sla_at_risk_messages": "gauge",
    "brandpulse_next_response_seconds": "histogram",
    "brandpulse_agent_replies_total": "counter",
    "brandpulse_agent_first_response_seconds": "histogram",
    "brandpulse_agent_sla_met_total": "counter",
    # inbox conversations (brandpulse ingest chatwoot)
    "brandpulse_conversation_resolution_seconds": "histogram",
    "brandpulse_conversations_reopened_total": "counter",
    # audience volume against the brand's baseline
    "brandpulse_audience_volume_rate": "gauge",
    "brandpulse_audience_volume_baseline": "gauge",
    "brandpulse_audience_volume_score": "gauge",
    "brandpulse_audience_volume_negative_share": "gauge",
    "brandpulse_audience_volume_terms_info": "gauge",
    # competitors
    "brandpulse_brand_group_info": "gauge",
    "brandpulse_audience_negative_messages_total": "counter",
    # pipeline
    "brandpulse_events_consumed_total": "counter",
    "brandpulse_events_rejected_total": "counter",
    "brandpulse_duplicate_events_total": "counter",
    "brandpulse_late_events_total": "counter",
    "brandpulse_state_records_rejected_total": "counter",
    "brandpulse_consumer_lag_messages": "gauge",
    "brandpulse_event_processing_delay_seconds": "histogram",
    "brandpulse_newest_event_age_seconds": "gauge",
    "brandpulse_rebalances_total": "counter",
    "brandpulse_assigned_partitions": "gauge",
    "brandpulse_broker_up": "gauge",
    "brandpulse_batch_processing_seconds": "histogram",
    "brandpulse_build_info": "gauge",
}

BEHAVIOUR: dict[str, MetricType] = {
    "brandpulse_crisis_active": "gauge",
    "brandpulse_crisis_share_sources": "gauge",
    "brandpulse_audience_sentiment": "gauge",
    "brandpulse_tone_deaf_posts_total": "counter",
    "brandpulse_templated_reply_ratio": "gauge",
    "brandpulse_topic_alignment": "gauge",
    "brandpulse_audience_replies_per_broadcast": "gauge",
    "brandpulse_messages_by_language_total": "counter",
    "brandpulse_scheduled_posts": "gauge",
    "brandpulse_scheduled_tone_deaf_posts": "gauge",
    "brandpulse_scheduled_tone_deaf_next_seconds": "gauge",
    "brandpulse_scheduled_tone_deaf_info": "gauge",
    "brandpulse_crisis_info": "gauge",
}

# `brandpulse ingest` processes (streams.metrics.SourceMetrics), scraped as job
# brandpulse-ingest; build_info is shared with the workers.
SOURCES: dict[str, MetricType] = {
    "brandpulse_source_events_total": "counter",
    "brandpulse_source_rejected_total": "counter",
    "brandpulse_source_skipped_total": "counter",
    "brandpulse_source_connected": "gauge",
    "brandpulse_source_lag_seconds": "gauge",
    "brandpulse_source_reconnects_total": "counter",
    "brandpulse_build_info": "gauge",
}

# Label names per family, as the contract promises them (used to synthesise test data).
LABELS: dict[str, tuple[str, ...]] = {
    "brandpulse_first_response_seconds": ("brand", "platform", "policy"),
    "brandpulse_first_response_business_seconds": ("brand", "platform", "policy"),
    "brandpulse_audience_messages_total": ("brand", "platform", "requires_reply"),
    "brandpulse_sla_met_total": ("brand", "platform", "policy"),
    "brandpulse_sla_breaches_total": ("brand", "platform", "policy"),
    "brandpulse_sla_at_risk_messages": ("brand", "platform"),
    "brandpulse_next_response_seconds": ("brand", "platform"),
    "brandpulse_agent_replies_total": ("brand", "agent"),
    "brandpulse_agent_first_response_seconds": ("brand", "agent"),
    "brandpulse_agent_sla_met_total": ("brand", "agent"),
    "brandpulse_conversation_resolution_seconds": ("brand", "platform"),
    "brandpulse_conversations_reopened_total": ("brand", "platform"),
    "brandpulse_unanswered_messages": ("brand", "platform"),
    "brandpulse_audience_volume_rate": ("brand",),
    "brandpulse_audience_volume_baseline": ("brand",),
    "brandpulse_audience_volume_score": ("brand",),
    "brandpulse_audience_volume_negative_share": ("brand",),
    "brandpulse_audience_volume_terms_info": ("brand", "terms"),
    "brandpulse_brand_group_info": ("brand", "group"),
    "brandpulse_audience_negative_messages_total": ("brand",),
    "brandpulse_oldest_unanswered_age_seconds": ("brand", "platform"),
    "brandpulse_messages_expired_unanswered_total": ("brand", "platform"),
    "brandpulse_late_replies_total": ("brand", "platform"),
    "brandpulse_sla_target_seconds": ("brand",),
    "brandpulse_brand_posts_total": ("brand", "platform", "kind"),
    "brandpulse_broadcast_ratio": ("brand", "window"),
    "brandpulse_reply_rate": ("brand", "window"),
    "brandpulse_robot_score": ("brand",),
    "brandpulse_events_consumed_total": ("topic",),
    "brandpulse_events_rejected_total": ("reason",),
    "brandpulse_state_records_rejected_total": ("reason",),
    "brandpulse_duplicate_events_total": ("brand",),
    "brandpulse_late_events_total": ("brand",),
    "brandpulse_consumer_lag_messages": ("topic", "partition"),
    "brandpulse_event_processing_delay_seconds": (),
    "brandpulse_newest_event_age_seconds": ("topic", "partition"),
    "brandpulse_rebalances_total": (),
    "brandpulse_assigned_partitions": (),
    "brandpulse_broker_up": (),
    "brandpulse_batch_processing_seconds": (),
    "brandpulse_build_info": ("version",),
    "brandpulse_crisis_active": ("scope",),
    "brandpulse_crisis_share_sources": (),
    "brandpulse_audience_sentiment": ("brand", "context"),
    "brandpulse_tone_deaf_posts_total": ("brand", "reason"),
    "brandpulse_templated_reply_ratio": ("brand",),
    "brandpulse_topic_alignment": ("brand",),
    "brandpulse_audience_replies_per_broadcast": ("brand",),
    "brandpulse_messages_by_language_total": ("brand", "lang"),
    "brandpulse_scheduled_posts": ("brand",),
    "brandpulse_scheduled_tone_deaf_posts": ("brand",),
    "brandpulse_scheduled_tone_deaf_next_seconds": ("brand",),
    "brandpulse_scheduled_tone_deaf_info": ("brand", "crisis"),
    "brandpulse_crisis_info": ("scope", "terms"),
    "brandpulse_source_events_total": ("source", "side"),
    "brandpulse_source_rejected_total": ("source", "reason"),
    "brandpulse_source_skipped_total": ("source", "reason"),
    "brandpulse_source_connected": ("source",),
    "brandpulse_source_lag_seconds": ("source",),
    "brandpulse_source_reconnects_total": ("source",),
}

FIRST_RESPONSE_BUCKETS: tuple[float, ...] = (
    60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 345600, 604800,
)  # fmt: skip

REJECT_REASONS: tuple[str, ...] = (
    "malformed_json", "schema", "oversized", "unknown_brand", "unknown_platform",
    "future_timestamp", "key_mismatch",
)  # fmt: skip


def series_names(families: dict[str, MetricType]) -> set[str]:
    """Every sample name a family can appear under in PromQL (histogram parts, _created)."""
    names: set[str] = set()
    for family, kind in families.items():
        if kind == "histogram":
            names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count", f"{family}_created"}
        elif kind == "counter":
            base = family.removesuffix("_total")
            names |= {family, f"{base}_created"}
        else:
            names.add(family)
    return names


CORE_SERIES: frozenset[str] = frozenset(series_names(CORE))
BEHAVIOUR_SERIES: frozenset[str] = frozenset(series_names(BEHAVIOUR))
SOURCE_SERIES: frozenset[str] = frozenset(series_names(SOURCES))
ALL_SERIES: frozenset[str] = CORE_SERIES | BEHAVIOUR_SERIES | SOURCE_SERIES
