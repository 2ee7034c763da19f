"""The Competitors board: the brands of one competitor group side by side.

A group is the brands file's ``group``; the board is the live view of
``brandpulse report --group NAME``.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries

from grafana.panels import (
    BEHAVIOUR,
    add_panels,
    add_row,
    dashboard,
    label_variable,
    merged_table,
    query,
    ts,
)

# The group variable as a PromQL matcher, and the clause that keeps a per-brand series to
# the brands of that group (brand_group:..._info carries one series per brand and group).
G = 'group=~"$group"'
IN_GROUP = f"and on (brand) brand_group:brandpulse_brand_group_info:max{{{G}}}"

# (column title, instant PromQL): one line per brand of the group.
SIDE_BY_SIDE_COLUMNS = [
    ("Share of voice (24h)", f"brand_group:brandpulse_share_of_voice:ratio1d{{{G}}}"),
    (
        "Share of requiring reply (24h)",
        f"brand_group:brandpulse_share_of_voice_requiring_reply:ratio1d{{{G}}}",
    ),
    ("Share of negative (24h)", f"brand_group:brandpulse_share_of_voice_negative:ratio1d{{{G}}}"),
    ("First response p90 (24h)", f"brand:brandpulse_first_response_seconds:p90_1d {IN_GROUP}"),
    ("Reply rate (24h)", f'max by (brand) (brandpulse_reply_rate{{window="24h"}}) {IN_GROUP}'),
    ("Robot score", f"brand:brandpulse_robot_score:max {IN_GROUP}"),
    (
        "Sentiment (1h, normal)",
        f'avg by (brand) (brandpulse_audience_sentiment{{context="normal"}}) {IN_GROUP}',
    ),
    (
        "Tone-deaf posts (24h)",
        f"sum by (brand) (increase(brandpulse_tone_deaf_posts_total[24h])) {IN_GROUP}",
    ),
]


def build() -> db.Dashboard:
    """Brands of one competitor group (brands file `group`) side by side."""
    d = dashboard(
        "brandpulse-competitors",
        "brandpulse · Competitors",
        "Brands with the same `group` in the brands file, side by side: share of voice "
        "(audience, requiring a reply, negative; last 24 h), reply time, reply rate, robot "
        "score, sentiment and tone-deaf posts. Offline: brandpulse report --group NAME.",
    ).with_variable(
        label_variable("group", "Group", "label_values(brandpulse_brand_group_info, group)")
    )
    d = add_panels(
        d,
        [
            merged_table(
                "Side by side",
                BEHAVIOUR + "(sentiment, tone-deaf posts). One line per brand of the group. "
                "Shares of voice: the brand's part of the group's audience messages over the "
                "last day (brand_group:brandpulse_share_of_voice*).",
                SIDE_BY_SIDE_COLUMNS,
                h=9,
                hide=("Time", "group"),
            )
        ],
    )
    return add_row(d, "Over time", _over_time())


def _over_time() -> list[timeseries.Panel]:
    """The table's main columns as time series, one line per brand of the group."""
    return [
        ts(
            "Share of voice",
            "The brand's part of its group's audience messages over the trailing day.",
            [query(f"brand_group:brandpulse_share_of_voice:ratio1d{{{G}}}", "{{brand}}")],
            unit="percentunit",
            min_val=0,
            max_val=1,
        ),
        ts(
            "Share of negative messages",
            "The brand's part of its group's negative audience messages (sentiment "
            "below -0.05) over the trailing day.",
            [
                query(
                    f"brand_group:brandpulse_share_of_voice_negative:ratio1d{{{G}}}",
                    "{{brand}}",
                )
            ],
            unit="percentunit",
            min_val=0,
            max_val=1,
        ),
        ts(
            "First response p90",
            "90th percentile of first-response time over the last hour.",
            [query(f"brand:brandpulse_first_response_seconds:p90_1h {IN_GROUP}", "{{brand}}")],
            unit="s",
        ),
        ts(
            "Robot score",
            "0 = converses, 1 = broadcasts and canned replies only.",
            [query(f"brand:brandpulse_robot_score:max {IN_GROUP}", "{{brand}}")],
            min_val=0,
            max_val=1,
        ),
    ]
