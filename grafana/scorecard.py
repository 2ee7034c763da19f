"""The Brand scorecard, Grafana's home board: how each brand behaves, at a glance.

Robot, psychopath, airhead and the reply SLA for every brand in one table, then one
repeated row of coloured cells per brand.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat

from grafana.panels import (
    BEHAVIOUR,
    B,
    add_panels,
    add_row,
    brand_variable,
    dashboard,
    merged_table,
    query,
    single_stat,
)

# (column title, instant PromQL): one line per brand of the "All brands" table.
ALL_BRANDS_COLUMNS = [
    ("Robot score", f"brand:brandpulse_robot_score:max{{{B}}}"),
    ("Within SLA (24h)", f"1 - brand:brandpulse_sla_error_ratio:rate1d{{{B}}}"),
    ("First response p90 (1h)", f"brand:brandpulse_first_response_seconds:p90_1h{{{B}}}"),
    ("Unanswered", f"brand:brandpulse_unanswered_messages:sum{{{B}}}"),
    ("Reply rate (24h)", f'max by (brand) (brandpulse_reply_rate{{window="24h", {B}}})'),
    ("Broadcast ratio (24h)", f'max by (brand) (brandpulse_broadcast_ratio{{window="24h", {B}}})'),
    (
        "Tone-deaf posts (24h)",
        f"sum by (brand) (increase(brandpulse_tone_deaf_posts_total{{{B}}}[24h]))",
    ),
    ("Topic alignment", f"max by (brand) (brandpulse_topic_alignment{{{B}}})"),
]


def build() -> db.Dashboard:
    """Robot, psychopath, airhead and SLA at a glance: a table, then one row per brand."""
    d = dashboard(
        "brandpulse-scorecard",
        "brandpulse · Brand scorecard",
        "How each brand behaves: robot (broadcasts, canned replies), psychopath (tone-deaf in "
        "a crisis), airhead (talks past its audience) and its reply SLA.",
    ).with_variable(brand_variable())
    d = add_panels(
        d,
        [
            merged_table(
                "All brands",
                "One line per brand. Tone-deaf posts and topic alignment: " + BEHAVIOUR,
                ALL_BRANDS_COLUMNS,
                h=8,
            )
        ],
    )
    return add_row(d, db.Row("$brand").repeat("brand"), _brand_cells())


def _brand_cells() -> list[stat.Panel]:
    """The repeated row: one coloured cell per trait, for the brand the row is repeated for."""
    return [
        single_stat(
            "Robot",
            "Robot score in [0,1]: high = broadcasts and canned replies, no conversation.",
            [query(f"brand:brandpulse_robot_score:max{{{B}}}", instant=True)],
            unit="percentunit",
            steps=[(None, "green"), (0.5, "orange"), (0.8, "red")],
        ),
        single_stat(
            "Psychopath",
            BEHAVIOUR + "Tone-deaf posts in 24 h (promotional or jokey in a crisis, "
            "hashtag hijack).",
            [query(f"sum(increase(brandpulse_tone_deaf_posts_total{{{B}}}[24h]))", instant=True)],
            steps=[(None, "green"), (1, "red")],
            decimals=0,
        ),
        single_stat(
            "Airhead",
            BEHAVIOUR + "Topic alignment of the brand's posts with its audience (low = airhead).",
            [query(f"max(brandpulse_topic_alignment{{{B}}})", instant=True)],
            unit="percentunit",
            steps=[(None, "red"), (0.3, "orange"), (0.6, "green")],
        ),
        single_stat(
            "Within SLA (24h)",
            "Share of decided messages answered within the brand's target (SLO 95 %).",
            [query(f"1 - brand:brandpulse_sla_error_ratio:rate1d{{{B}}}", instant=True)],
            unit="percentunit",
            steps=[(None, "red"), (0.9, "orange"), (0.95, "green")],
        ),
        single_stat(
            "First response p90 (1h)",
            "90th percentile of first-response time over the last hour.",
            [query(f"brand:brandpulse_first_response_seconds:p90_1h{{{B}}}", instant=True)],
            unit="s",
        ),
        single_stat(
            "Oldest unanswered",
            "Age of the oldest audience message still waiting for a first reply.",
            [query(f"brand:brandpulse_oldest_unanswered_age_seconds:max{{{B}}}", instant=True)],
            unit="s",
        ),
    ]
