"""The brand metric families: each brand gauge, counter and histogram's name, labels and help.

Declared as tables, apart from the collectors that fill them (streams/metrics/worker.py), so
that adding a brand metric is one row here and one line where its value is read.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from streams.core.totals import LABELS, RESPONSE_BUCKETS, Count, Timing

CRISIS_ACTIVE = "brandpulse_crisis_active"
CRISIS_ACTIVE_HELP = "1 while a crisis is active for the scope (a brand, or global), else 0."

#: The brand gauges as (name, labels, help), in the order of the page and of the names
#: `BrandGauges.collect` unpacks them into: a new gauge goes in both at the same place.
BRAND_GAUGES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("brandpulse_unanswered_messages", ("brand", "platform"),
     "Messages waiting for a first reply."),
    ("brandpulse_oldest_unanswered_age_seconds", ("brand", "platform"),
     "Event-time age of the oldest message waiting for a first reply."),
    ("brandpulse_sla_target_seconds", ("brand",),
     "The brand's first-response SLA target."),
    ("brandpulse_broadcast_ratio", ("brand", "window"),
     "Broadcasts divided by all brand posts in the window."),
    ("brandpulse_reply_rate", ("brand", "window"),
     "Answered divided by decided (answered or overdue) messages in the window."),
    ("brandpulse_robot_score", ("brand",),
     "How much the brand behaves like a robot, 0 to 1."),
    (CRISIS_ACTIVE, ("scope",),
     CRISIS_ACTIVE_HELP),
    ("brandpulse_audience_sentiment", ("brand", "context"),
     "Mean audience sentiment (-1 to 1) over the last hour, by crisis context."),
    ("brandpulse_templated_reply_ratio", ("brand",),
     "Share of the brand's replies (24 h) that have a near-duplicate among them."),
    ("brandpulse_topic_alignment", ("brand",),
     "Cosine similarity (0 to 1) of broadcast terms to the audience's, over 7 days."),
    ("brandpulse_audience_replies_per_broadcast", ("brand",),
     "Audience replies to the brand's broadcasts per broadcast, over 7 days."),
    ("brandpulse_scheduled_posts", ("brand",),
     "Scheduled brand posts queued, not yet out."),
    ("brandpulse_scheduled_tone_deaf_posts", ("brand",),
     "Scheduled posts going out within 24 h that would be tone-deaf in a crisis."),
    ("brandpulse_scheduled_tone_deaf_next_seconds", ("brand",),
     "Seconds until the first of those goes out (absent when there is none)."),
    ("brandpulse_scheduled_tone_deaf_info", ("brand", "crisis"),
     "1 for the crisis most of those posts offend (one series per brand at most)."),
    ("brandpulse_sla_at_risk_messages", ("brand", "platform"),
     "Messages waiting for a first reply past the brand's at_risk_share of their "
     "target, not yet breached."),
    ("brandpulse_audience_volume_rate", ("brand",),
     "Audience messages per hour, counted over the last 15 minutes of event time."),
    ("brandpulse_audience_volume_baseline", ("brand",),
     "Mean audience messages per hour over the complete hours of the last 7 days "
     "(NaN with less than a day of history)."),
    ("brandpulse_audience_volume_score", ("brand",),
     "Z-score of the last 15 minutes' audience messages against the 7-day baseline "
     "(deviation and Poisson noise); NaN without baseline."),
    ("brandpulse_audience_volume_negative_share", ("brand",),
     "Share of the last 15 minutes' analysed audience messages that are negative."),
    ("brandpulse_audience_volume_terms_info", ("brand", "terms"),
     "1 for the top audience terms of the last 15 minutes, only while the volume "
     "score is at least 2 (one series per brand at most)."),
    ("brandpulse_brand_group_info", ("brand", "group"),
     "1 for the competitor group of each brand that has one (brands file `group`)."),
    ("brandpulse_crisis_info", ("scope", "terms"),
     "What the brand's active (1) or emerging (0) audience crisis is about: its top "
     "learned terms, comma-joined (one series per crisis scope at most)."),
)


def brand_gauge_families() -> tuple[GaugeMetricFamily, ...]:
    """Empty families of the brand gauges: same names, help texts and labels as always."""
    return tuple(GaugeMetricFamily(name, documentation, labels=labels)
                 for name, labels, documentation in BRAND_GAUGES)


#: HELP text of each brand counter and histogram (streams/core/totals.py keeps the values).
BRAND_HELP: dict[str, str] = {
    Count.AUDIENCE_MESSAGES: "Audience messages, by whether they need a reply.",
    Count.BRAND_POSTS: "Posts written by the brand, broadcast or reply.",
    Count.SLA_MET: "Messages answered within the SLA target.",
    Count.SLA_BREACHES: "Messages whose SLA target passed unanswered, counted at that moment.",
    Count.EXPIRED: "Messages closed unanswered after the expiry period (7 days by default).",
    Count.LATE_REPLIES: "First replies to messages that had already expired unanswered (they "
                        "stay counted as expired).",
    Count.DUPLICATES: "Events already seen (same id), ignored.",
    Count.LATE_EVENTS: "Events older than the retention horizon, ignored.",
    Count.TONE_DEAF: "Promotional or jokey brand posts during a crisis, or riding its "
                     "hashtags.",
    Count.LANGUAGE: "Audience messages by detected language (other languages score neutral).",
    Count.NEGATIVE: "Analysed audience messages whose sentiment is negative (below -0.05).",
    Count.AGENT_REPLIES: "Brand replies signed by each listed agent.",
    Count.AGENT_SLA_MET: "First replies signed by each listed agent within the message's SLA "
                         "target.",
    Timing.FIRST_RESPONSE: "Time from an audience message needing a reply to the brand's "
                           "first reply.",
    Timing.FIRST_RESPONSE_BUSINESS: "First-response time counting only the brand's business "
                                    "hours.",
    Timing.NEXT_RESPONSE: "Time from a customer's follow-up, in a thread the brand had "
                          "answered, to the brand's next reply.",
    Timing.AGENT_FIRST_RESPONSE: "First-response time of the first replies signed by each "
                                 "listed agent.",
    Count.REOPENED: "Resolved inbox conversations opened again.",
    Timing.RESOLUTION: "Time from an inbox conversation's creation to its resolution, in "
                       "business hours when the brand's SLA uses them.",
}
BUCKET_BOUNDS = tuple(floatToGoString(b) for b in (*RESPONSE_BUCKETS, math.inf))


def brand_counter_families() -> dict[str, Any]:
    """Empty families of the brand counters and histograms, by Count or Timing."""
    families: dict[str, Any] = {}
    for name, labels in LABELS.items():
        if isinstance(name, Count):
            families[name] = CounterMetricFamily(
                f"brandpulse_{name}", BRAND_HELP[name], labels=("brand", *labels))
        else:
            families[name] = HistogramMetricFamily(
                f"brandpulse_{name}", BRAND_HELP[name], labels=("brand", *labels))
    return families
