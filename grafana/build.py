"""Generate brandpulse's Grafana dashboards as committed JSON.

Run ``python -m grafana.build`` from the project root (or ``--out DIR`` to write elsewhere,
which is how tests/ops checks that the committed JSON is up to date). Dashboards are built
with grafana-foundation-sdk so that panels are typed instead of hand-edited JSON, and the
output is deterministic (sorted keys, sequential panel ids) so diffs stay reviewable.

Panels tagged ``[behaviour]`` in their description read the behaviour-analysis metrics that
the workers do not export yet; see tests/ops/metric_contract.py.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DashboardLinkType,
    DataSourceRef,
    DataTransformerConfig,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DEFAULT_OUT = Path(__file__).resolve().parent / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
B = 'brand=~"$brand"'
TAGS = ["brandpulse"]
BEHAVIOUR = "[behaviour] Needs the behaviour-analysis metrics (next worker release). "
# Reply-SLA objective: 95 % answered within target => 5 % error budget (see deploy rules).
ERROR_BUDGET = 0.05

PanelBuilder = Any  # the SDK's panel builders share no public base class with these setters


def query(
    expr: str, legend: str = "", *, instant: bool = False, table_fmt: bool = False
) -> prom.Dataquery:
    """One PromQL target; refIds are assigned by the panel helpers."""
    q = prom.Dataquery().expr(expr)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if table_fmt:
        q = q.format(PromQueryFormat.TABLE)
    return q


def tq(expr: str) -> prom.Dataquery:
    """Instant query in table format, for one column of a merged table."""
    return query(expr, instant=True, table_fmt=True)


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> db.ThresholdsConfig:
    """Absolute thresholds; the first step must have value None (the base colour)."""
    return (
        db.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


def _common(
    panel: PanelBuilder,
    title: str,
    description: str,
    targets: Sequence[prom.Dataquery],
    unit: str,
    w: int,
    h: int,
) -> PanelBuilder:
    """Settings shared by every panel: datasource variable, size, refIds A, B, C..."""
    panel = panel.title(title).description(description).datasource(DS).unit(unit).span(w).height(h)
    for i, target in enumerate(targets):
        panel = panel.with_target(target.ref_id(chr(ord("A") + i)))
    return panel


def ts(
    title: str,
    description: str,
    targets: Sequence[prom.Dataquery],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    min_val: float | None = None,
    max_val: float | None = None,
    threshold_lines: Sequence[tuple[float | None, str]] | None = None,
    bars: bool = False,
) -> timeseries.Panel:
    """Time series; threshold_lines draws SLO/burn-rate reference lines."""
    p = _common(timeseries.Panel(), title, description, targets, unit, w, h)
    p = p.legend(
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    if min_val is not None:
        p = p.min(min_val)
    if max_val is not None:
        p = p.max(max_val)
    if threshold_lines:
        p = p.thresholds(_thresholds(threshold_lines)).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    if bars:
        p = p.draw_style(common.GraphDrawStyle.BARS).fill_opacity(60)
    return p


def single_stat(
    title: str,
    description: str,
    targets: Sequence[prom.Dataquery],
    *,
    unit: str = "short",
    w: int = 4,
    h: int = 4,
    steps: Sequence[tuple[float | None, str]] = ((None, "green"),),
    decimals: float | None = None,
) -> stat.Panel:
    """Instant single value coloured by thresholds: the at-a-glance scorecard cell."""
    p = _common(stat.Panel(), title, description, targets, unit, w, h)
    p = p.thresholds(_thresholds(steps)).color_mode(common.BigValueColorMode.BACKGROUND)
    p = p.graph_mode(common.BigValueGraphMode.NONE).reduce_options(
        common_builders.ReduceDataOptions().calcs(["lastNotNull"])
    )
    if decimals is not None:
        p = p.decimals(decimals)
    return p


def _dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    """Common dashboard chrome: datasource variable, links to the other brandpulse boards."""
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
        .link(
            db.DashboardLink("brandpulse")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(TAGS)
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(db.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )


def _brand_variable() -> db.QueryVariable:
    """Brands come from the SLA-target gauge, which every worker exports for every brand."""
    return (
        db.QueryVariable("brand")
        .label("Brand")
        .datasource(DS)
        .query("label_values(brandpulse_sla_target_seconds, brand)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


# --------------------------------------------------------------------------- scorecard


def scorecard() -> db.Dashboard:
    """Robot, psychopath, airhead and SLA at a glance: a table, then one row per brand."""
    d = _dashboard(
        "brandpulse-scorecard",
        "brandpulse · Brand scorecard",
        "How each brand behaves: robot (broadcasts, canned replies), psychopath (tone-deaf in "
        "a crisis), airhead (talks past its audience) and its reply SLA.",
    ).with_variable(_brand_variable())
    cols = {
        "A": "Robot score",
        "B": "Within SLA (24h)",
        "C": "First response p90 (1h)",
        "D": "Unanswered",
        "E": "Reply rate (24h)",
        "F": "Broadcast ratio (24h)",
        "G": "Tone-deaf posts (24h)",
        "H": "Topic alignment",
    }
    overview = _common(
        table.Panel(),
        "All brands",
        "One line per brand. Tone-deaf posts and topic alignment: " + BEHAVIOUR,
        [
            tq(f"brand:brandpulse_robot_score:max{{{B}}}"),
            tq(f"1 - brand:brandpulse_sla_error_ratio:rate1d{{{B}}}"),
            tq(f"brand:brandpulse_first_response_seconds:p90_1h{{{B}}}"),
            tq(f"brand:brandpulse_unanswered_messages:sum{{{B}}}"),
            tq(f'max by (brand) (brandpulse_reply_rate{{window="24h", {B}}})'),
            tq(f'max by (brand) (brandpulse_broadcast_ratio{{window="24h", {B}}})'),
            tq(f"sum by (brand) (increase(brandpulse_tone_deaf_posts_total{{{B}}}[24h]))"),
            tq(f"max by (brand) (brandpulse_topic_alignment{{{B}}})"),
        ],
        "none",
        24,
        8,
    )
    overview = overview.with_transformation(DataTransformerConfig(id_val="merge", options={}))
    overview = overview.with_transformation(
        DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True},
                "renameByName": {f"Value #{k}": v for k, v in cols.items()} | {"brand": "Brand"},
            },
        )
    )
    d = d.with_panel(overview)
    d = d.with_row(db.Row("$brand").repeat("brand"))
    d = (
        d.with_panel(
            single_stat(
                "Robot",
                "Robot score in [0,1]: high = broadcasts and canned replies, no conversation.",
                [query(f"brand:brandpulse_robot_score:max{{{B}}}", instant=True)],
                unit="percentunit",
                steps=[(None, "green"), (0.5, "orange"), (0.8, "red")],
            )
        )
        .with_panel(
            single_stat(
                "Psychopath",
                BEHAVIOUR + "Tone-deaf posts in 24 h (promotional or jokey in a crisis, "
                "hashtag hijack).",
                [
                    query(
                        f"sum(increase(brandpulse_tone_deaf_posts_total{{{B}}}[24h]))", instant=True
                    )
                ],
                steps=[(None, "green"), (1, "red")],
                decimals=0,
            )
        )
        .with_panel(
            single_stat(
                "Airhead",
                BEHAVIOUR
                + "Topic alignment of the brand's posts with its audience (low = airhead).",
                [query(f"max(brandpulse_topic_alignment{{{B}}})", instant=True)],
                unit="percentunit",
                steps=[(None, "red"), (0.3, "orange"), (0.6, "green")],
            )
        )
        .with_panel(
            single_stat(
                "Within SLA (24h)",
                "Share of decided messages answered within the brand's target (SLO 95 %).",
                [query(f"1 - brand:brandpulse_sla_error_ratio:rate1d{{{B}}}", instant=True)],
                unit="percentunit",
                steps=[(None, "red"), (0.9, "orange"), (0.95, "green")],
            )
        )
        .with_panel(
            single_stat(
                "First response p90 (1h)",
                "90th percentile of first-response time over the last hour.",
                [query(f"brand:brandpulse_first_response_seconds:p90_1h{{{B}}}", instant=True)],
                unit="s",
            )
        )
        .with_panel(
            single_stat(
                "Oldest unanswered",
                "Age of the oldest audience message still waiting for a first reply.",
                [query(f"brand:brandpulse_oldest_unanswered_age_seconds:max{{{B}}}", instant=True)],
                unit="s",
            )
        )
    )
    return d


# --------------------------------------------------------------------------- reply SLA


def reply_sla() -> db.Dashboard:
    """First-response quantiles, SLO compliance, error-budget burn and backlog per brand."""
    d = _dashboard(
        "brandpulse-reply-sla",
        "brandpulse · Reply SLA",
        "First-response time from the histogram, share answered within the brand's target "
        "(SLO 95 %), error-budget burn rates as alerted on, and the unanswered backlog.",
    ).with_variable(_brand_variable())
    d = d.with_row(db.Row("First response"))
    d = d.with_panel(
        ts(
            "First response p50 / p90 / p99 (1h) vs SLA target",
            "histogram_quantile over the last hour (recording rules), with the brand's target.",
            [
                query(f"brand:brandpulse_first_response_seconds:p50_1h{{{B}}}", "{{brand}} p50"),
                query(f"brand:brandpulse_first_response_seconds:p90_1h{{{B}}}", "{{brand}} p90"),
                query(f"brand:brandpulse_first_response_seconds:p99_1h{{{B}}}", "{{brand}} p99"),
                query(f"brand:brandpulse_sla_target_seconds:max{{{B}}}", "{{brand}} target"),
            ],
            unit="s",
        )
    ).with_panel(
        ts(
            "First response p90 by platform",
            "Per platform, over the dashboard's rate interval; business-hours p90 (1h) for "
            "brands with business hours.",
            [
                query(
                    "histogram_quantile(0.9, sum by (brand, platform, le) "
                    f"(rate(brandpulse_first_response_seconds_bucket{{{B}}}[$__rate_interval])))",
                    "{{brand}} {{platform}}",
                ),
                query(
                    f"brand:brandpulse_first_response_business_seconds:p90_1h{{{B}}}",
                    "{{brand}} business hours (1h)",
                ),
            ],
            unit="s",
        )
    )
    d = d.with_row(db.Row("SLO and error budget"))
    d = (
        d.with_panel(
            ts(
                "Share answered within SLA",
                "met / (met + breaches) over 1 h and 24 h. The line is the 95 % objective.",
                [
                    query(f"1 - brand:brandpulse_sla_error_ratio:rate1h{{{B}}}", "{{brand}} 1h"),
                    query(f"1 - brand:brandpulse_sla_error_ratio:rate1d{{{B}}}", "{{brand}} 24h"),
                ],
                unit="percentunit",
                min_val=0,
                max_val=1,
                threshold_lines=[(None, "red"), (1 - ERROR_BUDGET, "green")],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Error-budget burn rate",
                "Error ratio / budget (5 %). Alerts: 14.4x (1h & 5m) page, 6x (6h & 30m) "
                "page, 1x (3d & 6h) ticket.",
                [
                    query(
                        f"brand:brandpulse_sla_error_ratio:rate1h{{{B}}} / {ERROR_BUDGET}",
                        "{{brand}} 1h",
                    ),
                    query(
                        f"brand:brandpulse_sla_error_ratio:rate6h{{{B}}} / {ERROR_BUDGET}",
                        "{{brand}} 6h",
                    ),
                    query(
                        f"brand:brandpulse_sla_error_ratio:rate3d{{{B}}} / {ERROR_BUDGET}",
                        "{{brand}} 3d",
                    ),
                ],
                unit="suffix:x",
                min_val=0,
                threshold_lines=[(None, "green"), (1, "yellow"), (6, "orange"), (14.4, "red")],
                w=8,
            )
        )
        .with_panel(
            ts(
                "SLA outcomes per hour",
                "Replies within target (met) and targets that passed unanswered (breaches).",
                [
                    query(
                        f"sum by (brand) (increase(brandpulse_sla_met_total{{{B}}}[1h]))",
                        "{{brand}} met",
                    ),
                    query(
                        f"sum by (brand) (increase(brandpulse_sla_breaches_total{{{B}}}[1h]))",
                        "{{brand}} breached",
                    ),
                ],
                w=8,
            )
        )
    )
    d = d.with_row(db.Row("Backlog"))
    d = (
        d.with_panel(
            ts(
                "Unanswered messages",
                "Audience messages that require a reply and have none yet.",
                [
                    query(
                        f"sum by (brand, platform) (brandpulse_unanswered_messages{{{B}}})",
                        "{{brand}} {{platform}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Oldest unanswered vs SLA target",
                "Above the target line, breaches are being counted right now.",
                [
                    query(
                        f"brand:brandpulse_oldest_unanswered_age_seconds:max{{{B}}}",
                        "{{brand}} oldest",
                    ),
                    query(f"brand:brandpulse_sla_target_seconds:max{{{B}}}", "{{brand}} target"),
                ],
                unit="s",
                w=8,
            )
        )
        .with_panel(
            ts(
                "Messages at risk",
                "Open messages past the brand's at_risk_share (default 75 %) of their own "
                "target, not breached yet: answered now, they still count as met. Alert: "
                "BrandRepliesAtRisk (5 or more for 5 min).",
                [
                    query(
                        f"sum by (brand, platform) (brandpulse_sla_at_risk_messages{{{B}}})",
                        "{{brand}} {{platform}}",
                    )
                ],
                threshold_lines=[(None, "green"), (5, "red")],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Expired unanswered and late replies (24h)",
                "Messages closed unanswered after expire_after_seconds, and first replies "
                "that came after that (still counted as expired), over 24 h.",
                [
                    query(
                        "sum by (brand, platform) "
                        f"(increase(brandpulse_messages_expired_unanswered_total{{{B}}}[1d]))",
                        "{{brand}} {{platform}} expired",
                    ),
                    query(
                        "sum by (brand, platform) "
                        f"(increase(brandpulse_late_replies_total{{{B}}}[1d]))",
                        "{{brand}} {{platform}} late replies",
                    ),
                ],
                w=8,
            )
        )
    )
    d = d.with_row(db.Row("Policies, follow-ups and agents"))
    d = (
        d.with_panel(
            ts(
                "Share answered within SLA by policy (24h)",
                "met / (met + breaches) per SLA policy: each message is judged against the "
                "target of the first policy it matches (VIP, keywords, DMs...), else default.",
                [
                    query(
                        f"sum by (brand, policy) (increase(brandpulse_sla_met_total{{{B}}}[1d]))"
                        " / (sum by (brand, policy) "
                        f"(increase(brandpulse_sla_met_total{{{B}}}[1d])) + sum by (brand, policy) "
                        f"(increase(brandpulse_sla_breaches_total{{{B}}}[1d])))",
                        "{{brand}} {{policy}}",
                    )
                ],
                unit="percentunit",
                min_val=0,
                max_val=1,
                threshold_lines=[(None, "red"), (1 - ERROR_BUDGET, "green")],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Next response p50 / p90 (1h)",
                "From a customer's follow-up in a thread the brand had answered to the "
                "brand's next reply.",
                [
                    query(
                        "histogram_quantile(0.5, sum by (brand, le) "
                        f"(rate(brandpulse_next_response_seconds_bucket{{{B}}}[1h])))",
                        "{{brand}} p50",
                    ),
                    query(
                        "histogram_quantile(0.9, sum by (brand, le) "
                        f"(rate(brandpulse_next_response_seconds_bucket{{{B}}}[1h])))",
                        "{{brand}} p90",
                    ),
                ],
                unit="s",
                w=8,
            )
        )
        .with_panel(
            ts(
                "First response p90 by agent (24h)",
                "Agents listed in the brands file (agent label), others as \"other\"; "
                "from the signature ending each reply (^JB, -AD).",
                [
                    query(
                        "histogram_quantile(0.9, sum by (brand, agent, le) "
                        f"(rate(brandpulse_agent_first_response_seconds_bucket{{{B}}}[1d])))",
                        "{{brand}} {{agent}}",
                    )
                ],
                unit="s",
                w=8,
            )
        )
        .with_panel(
            ts(
                "Replies and share within SLA by agent (24h)",
                "Replies signed by each listed agent, and the share of the first replies "
                "they signed that met the message's target.",
                [
                    query(
                        "sum by (brand, agent) "
                        f"(increase(brandpulse_agent_replies_total{{{B}}}[1d]))",
                        "{{brand}} {{agent}} replies",
                    ),
                    query(
                        "sum by (brand, agent) "
                        f"(increase(brandpulse_agent_sla_met_total{{{B}}}[1d])) / "
                        "sum by (brand, agent) (increase("
                        f"brandpulse_agent_first_response_seconds_count{{{B}}}[1d]))",
                        "{{brand}} {{agent}} within SLA",
                    ),
                ],
                w=24,
            )
        )
    )
    d = d.with_row(db.Row("Conversation"))
    d = (
        d.with_panel(
            ts(
                "Audience messages per hour",
                "Incoming audience messages, split by whether they require a reply.",
                [
                    query(
                        "sum by (brand, requires_reply) "
                        f"(rate(brandpulse_audience_messages_total{{{B}}}[$__rate_interval]))"
                        " * 3600",
                        "{{brand}} requires_reply={{requires_reply}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Brand posts per hour",
                "Broadcasts vs replies posted by the brand.",
                [
                    query(
                        "sum by (brand, kind) "
                        f"(rate(brandpulse_brand_posts_total{{{B}}}[$__rate_interval])) * 3600",
                        "{{brand}} {{kind}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
            ts(
                "Reply rate and broadcast ratio",
                "answered / requiring reply, and broadcasts / all posts, per window.",
                [
                    query(
                        f"max by (brand, window) (brandpulse_reply_rate{{{B}}})",
                        "{{brand}} reply rate {{window}}",
                    ),
                    query(
                        f"max by (brand, window) (brandpulse_broadcast_ratio{{{B}}})",
                        "{{brand}} broadcast ratio {{window}}",
                    ),
                ],
                unit="percentunit",
                min_val=0,
                max_val=1,
                w=8,
            )
        )
    )
    return d


# --------------------------------------------------------------------------- crisis


TONE_DEAF_ANNOTATION = "Tone-deaf posts"
CRISIS_ANNOTATION = "Crisis active"
# Extra fields of Grafana's Prometheus annotation query that the SDK model does not carry.
ANNOTATION_EXTRAS: dict[str, dict[str, object]] = {
    TONE_DEAF_ANNOTATION: {
        "step": "1m",
        "titleFormat": "Tone-deaf post: {{brand}}",
        "textFormat": "{{reason}}",
        "tagKeys": "brand,reason",
        "useValueForTime": False,
    },
    CRISIS_ANNOTATION: {
        "step": "1m",
        "titleFormat": "Crisis: {{scope}}",
        "tagKeys": "scope",
        "useValueForTime": False,
    },
}


def crisis() -> db.Dashboard:
    """Crisis state, audience mood by context and tone-deaf posts marked on the time axis."""
    d = (
        _dashboard(
            "brandpulse-crisis",
            "brandpulse · Crisis",
            BEHAVIOUR + "Is a brand (or the whole platform) in crisis, how does the audience "
            "feel, and did a brand post something tone-deaf meanwhile (red markers).",
        )
        .with_variable(_brand_variable())
        .annotation(
            db.AnnotationQuery()
            .name(TONE_DEAF_ANNOTATION)
            .datasource(DS)
            .enable(True)
            .icon_color("red")
            .expr(
                "sum by (brand, reason) "
                f"(increase(brandpulse_tone_deaf_posts_total{{{B}}}[2m])) > 0"
            )
        )
        .annotation(
            db.AnnotationQuery()
            .name(CRISIS_ANNOTATION)
            .datasource(DS)
            .enable(True)
            .icon_color("orange")
            .expr("max by (scope) (brandpulse_crisis_active) == 1")
        )
    )
    d = d.with_row(db.Row("Crisis"))
    crisis_state = _common(
        statetimeline.Panel(),
        "Crisis state",
        BEHAVIOUR + "Per scope: a brand, or 'global' for a platform-wide crisis.",
        [query("max by (scope) (brandpulse_crisis_active)", "{{scope}}")],
        "none",
        14,
        6,
    ).mappings(
        [
            ValueMap(
                options={
                    "0": ValueMappingResult(text="calm", color="green"),
                    "1": ValueMappingResult(text="crisis", color="red"),
                }
            )
        ]
    )
    d = d.with_panel(crisis_state).with_panel(
        single_stat(
            "Brands in crisis",
            BEHAVIOUR + "Brands affected by their own or a global crisis.",
            [query("sum(brand:brandpulse_crisis_active:max)", instant=True)],
            w=5,
            h=6,
            steps=[(None, "green"), (1, "red")],
            decimals=0,
        )
    ).with_panel(
        single_stat(
            "Global scope sources",
            BEHAVIOUR + "Worker processes whose audience counts the global crisis scope "
            "combines (lowest across workers). Fewer than the running workers means some "
            "worker's shares do not arrive: its global verdict sees only part of the stream.",
            [query("min(brandpulse_crisis_share_sources)", instant=True)],
            w=5,
            h=6,
            steps=[(None, "orange"), (1, "green")],
            decimals=0,
        )
    )
    d = d.with_row(db.Row("Audience and brand"))
    d = d.with_panel(
        ts(
            "Audience sentiment by context",
            BEHAVIOUR + "Rolling 1 h mean in [-1, 1], crisis vs normal conversations.",
            [
                query(
                    f"avg by (brand, context) (brandpulse_audience_sentiment{{{B}}})",
                    "{{brand}} {{context}}",
                )
            ],
            min_val=-1,
            max_val=1,
            threshold_lines=[(None, "red"), (-0.2, "transparent")],
        )
    ).with_panel(
        ts(
            "Tone-deaf posts",
            BEHAVIOUR + "Promotional or jokey posts in a crisis, hashtag hijacks.",
            [
                query(
                    "sum by (brand, reason) "
                    f"(increase(brandpulse_tone_deaf_posts_total{{{B}}}[$__rate_interval]))",
                    "{{brand}} {{reason}}",
                )
            ],
            bars=True,
        )
    ).with_panel(
        ts(
            "Scheduled posts that would be tone-deaf",
            BEHAVIOUR + "Queued scheduled posts going out within 24 h that would be "
            "tone-deaf during the active crisis named in the legend (alert "
            "BrandScheduledPostsToneDeaf when the first goes out within 6 h); "
            "`brandpulse check` explains each draft (docs/check.md).",
            [
                query(
                    f"max by (brand) (brandpulse_scheduled_tone_deaf_posts{{{B}}})"
                    " * on (brand) group_left (crisis) "
                    f"max by (brand, crisis) (brandpulse_scheduled_tone_deaf_info{{{B}}})",
                    "{{brand}} during {{crisis}}",
                ),
                query(
                    f"max by (brand) (brandpulse_scheduled_posts{{{B}}})",
                    "{{brand}} scheduled (all)",
                ),
            ],
            w=24,
            h=6,
        )
    ).with_panel(
        _common(
            table.Panel(),
            "What each brand's crisis is about",
            BEHAVIOUR + "Top terms learned from the brand's own crisis messages against its "
            "7-day baseline (hashtags, hazard words, places and names), while the crisis is "
            "active (1) or emerging (0); the crisis alerts' crisis_terms annotation.",
            [tq('max by (scope, terms) (brandpulse_crisis_info{scope=~"$brand"})')],
            "none",
            24,
            5,
        ).with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True},
                    "renameByName": {"scope": "Brand", "terms": "Learned terms",
                                     "Value": "Active (1) / emerging (0)"},
                },
            )
        )
    )
    d = d.with_row(db.Row("Mention volume"))
    d = d.with_panel(
        ts(
            "Audience messages vs the brand's own baseline",
            "Audience messages per hour over the last 15 minutes (solid) against the mean of "
            "the complete hours of the last 7 days (legend 'baseline'). Alert "
            "BrandMentionVolumeSpike: score >= 4, >= 3x the baseline and >= 40/h for 1 min.",
            [
                query(f"brand:brandpulse_audience_volume_rate:max{{{B}}}", "{{brand}} rate"),
                query(
                    f"brand:brandpulse_audience_volume_baseline:max{{{B}}}",
                    "{{brand}} baseline",
                ),
            ],
            unit="short",
            min_val=0,
            w=16,
        )
    ).with_panel(
        ts(
            "Volume spike score",
            "Z-score of the last 15 minutes' count against the baseline's deviation and "
            "Poisson noise (NaN with less than a day of history); the alert needs >= 4.",
            [query(f"brand:brandpulse_audience_volume_score:max{{{B}}}", "{{brand}}")],
            threshold_lines=[(None, "transparent"), (4, "red")],
            w=8,
        )
    ).with_panel(
        ts(
            "Negative share of the last 15 minutes",
            "Share of the window's analysed audience messages that are negative (sentiment "
            "below -0.05): a spike of complaints, or of praise.",
            [query(f"max by (brand) (brandpulse_audience_volume_negative_share{{{B}}})",
                   "{{brand}}")],
            unit="percentunit",
            min_val=0,
            max_val=1,
            w=12,
        )
    ).with_panel(
        _common(
            table.Panel(),
            "What the spike is about",
            "Top audience terms of the last 15 minutes, shown while the brand's volume "
            "score is at least 2 (the alert's description names them too).",
            [tq(f"max by (brand, terms) (brandpulse_audience_volume_terms_info{{{B}}})")],
            "none",
            12,
            8,
        ).with_transformation(
            DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, "Value": True},
                    "renameByName": {"brand": "Brand", "terms": "Top terms"},
                },
            )
        )
    )
    d = d.with_row(db.Row("Other behaviour signals"))
    d = (
        d.with_panel(
            ts(
                "Templated reply ratio",
                BEHAVIOUR + "Share of the brand's replies that are near-identical templates.",
                [query(f"max by (brand) (brandpulse_templated_reply_ratio{{{B}}})", "{{brand}}")],
                unit="percentunit",
                min_val=0,
                max_val=1,
                w=6,
            )
        )
        .with_panel(
            ts(
                "Topic alignment",
                BEHAVIOUR + "How much the brand's posts match what its audience talks about.",
                [query(f"max by (brand) (brandpulse_topic_alignment{{{B}}})", "{{brand}}")],
                unit="percentunit",
                min_val=0,
                max_val=1,
                threshold_lines=[(None, "red"), (0.3, "green")],
                w=6,
            )
        )
        .with_panel(
            ts(
                "Audience replies per broadcast",
                BEHAVIOUR + "Engagement each broadcast gets.",
                [
                    query(
                        f"max by (brand) (brandpulse_audience_replies_per_broadcast{{{B}}})",
                        "{{brand}}",
                    )
                ],
                w=6,
            )
        )
        .with_panel(
            ts(
                "Audience messages by language",
                BEHAVIOUR + "Per hour; 'other' = not in the brand's configured languages.",
                [
                    query(
                        "sum by (brand, lang) "
                        f"(rate(brandpulse_messages_by_language_total{{{B}}}[$__rate_interval]))"
                        " * 3600",
                        "{{brand}} {{lang}}",
                    )
                ],
                w=6,
            )
        )
    )
    return d


# --------------------------------------------------------------------------- competitors

G = 'group=~"$group"'
IN_GROUP = f"and on (brand) brand_group:brandpulse_brand_group_info:max{{{G}}}"


def competitors() -> db.Dashboard:
    """Brands of one competitor group (brands file `group`) side by side."""
    d = _dashboard(
        "brandpulse-competitors",
        "brandpulse · Competitors",
        "Brands with the same `group` in the brands file, side by side: share of voice "
        "(audience, requiring a reply, negative; last 24 h), reply time, reply rate, robot "
        "score, sentiment and tone-deaf posts. Offline: brandpulse report --group NAME.",
    ).with_variable(
        db.QueryVariable("group")
        .label("Group")
        .datasource(DS)
        .query("label_values(brandpulse_brand_group_info, group)")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    cols = {
        "A": "Share of voice (24h)",
        "B": "Share of requiring reply (24h)",
        "C": "Share of negative (24h)",
        "D": "First response p90 (24h)",
        "E": "Reply rate (24h)",
        "F": "Robot score",
        "G": "Sentiment (1h, normal)",
        "H": "Tone-deaf posts (24h)",
    }
    side_by_side = _common(
        table.Panel(),
        "Side by side",
        BEHAVIOUR + "(sentiment, tone-deaf posts). One line per brand of the group. Shares "
        "of voice: the brand's part of the group's audience messages over the last day "
        "(brand_group:brandpulse_share_of_voice*).",
        [
            tq(f"brand_group:brandpulse_share_of_voice:ratio1d{{{G}}}"),
            tq(f"brand_group:brandpulse_share_of_voice_requiring_reply:ratio1d{{{G}}}"),
            tq(f"brand_group:brandpulse_share_of_voice_negative:ratio1d{{{G}}}"),
            tq(f"brand:brandpulse_first_response_seconds:p90_1d {IN_GROUP}"),
            tq(f'max by (brand) (brandpulse_reply_rate{{window="24h"}}) {IN_GROUP}'),
            tq(f"brand:brandpulse_robot_score:max {IN_GROUP}"),
            tq(f'avg by (brand) (brandpulse_audience_sentiment{{context="normal"}}) {IN_GROUP}'),
            tq(f"sum by (brand) (increase(brandpulse_tone_deaf_posts_total[24h])) {IN_GROUP}"),
        ],
        "none",
        24,
        9,
    )
    side_by_side = side_by_side.with_transformation(
        DataTransformerConfig(id_val="merge", options={})
    ).with_transformation(
        DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True, "group": True},
                "renameByName": {f"Value #{k}": v for k, v in cols.items()} | {"brand": "Brand"},
            },
        )
    )
    d = d.with_panel(side_by_side)
    d = d.with_row(db.Row("Over time"))
    d = (
        d.with_panel(
            ts(
                "Share of voice",
                "The brand's part of its group's audience messages over the trailing day.",
                [query(f"brand_group:brandpulse_share_of_voice:ratio1d{{{G}}}", "{{brand}}")],
                unit="percentunit",
                min_val=0,
                max_val=1,
            )
        )
        .with_panel(
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
            )
        )
        .with_panel(
            ts(
                "First response p90",
                "90th percentile of first-response time over the last hour.",
                [query(f"brand:brandpulse_first_response_seconds:p90_1h {IN_GROUP}", "{{brand}}")],
                unit="s",
            )
        )
        .with_panel(
            ts(
                "Robot score",
                "0 = converses, 1 = broadcasts and canned replies only.",
                [query(f"brand:brandpulse_robot_score:max {IN_GROUP}", "{{brand}}")],
                min_val=0,
                max_val=1,
            )
        )
    )
    return d


# --------------------------------------------------------------------------- pipeline


def pipeline() -> db.Dashboard:
    """Is brandpulse itself healthy: workers, throughput, rejects, lag, rebalances."""
    d = _dashboard(
        "brandpulse-pipeline",
        "brandpulse · Pipeline health",
        "Workers, events per second, rejected events, consumer lag and rebalances.",
    ).with_variable(
        db.QueryVariable("instance")
        .label("Worker")
        .datasource(DS)
        .query('label_values(up{job="brandpulse"}, instance)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    inst = 'job="brandpulse", instance=~"$instance"'
    d = d.with_row(db.Row("Workers"))
    d = (
        d.with_panel(
            single_stat(
                "Workers up",
                "Scrape targets of job brandpulse that answer.",
                [query('sum(up{job="brandpulse"})', instant=True)],
                steps=[(None, "red"), (1, "green")],
                decimals=0,
                w=4,
            )
        )
        .with_panel(
            single_stat(
                "Assigned partitions",
                "Sum over workers; should equal the partition count of the input topics.",
                [query(f"sum(brandpulse_assigned_partitions{{{inst}}})", instant=True)],
                decimals=0,
                w=4,
            )
        )
        .with_panel(
            _common(
                statetimeline.Panel(),
                "Worker up",
                "1 = scraped successfully.",
                [query(f"up{{{inst}}}", "{{instance}}")],
                "none",
                16,
                4,
            ).mappings(
                [
                    ValueMap(
                        options={
                            "0": ValueMappingResult(text="down", color="red"),
                            "1": ValueMappingResult(text="up", color="green"),
                        }
                    )
                ]
            )
        )
    )
    d = d.with_row(db.Row("Throughput"))
    d = (
        d.with_panel(
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
            )
        )
        .with_panel(
            ts(
                "Events consumed per second, per topic",
                "All workers together.",
                [query("topic:brandpulse_events_consumed:rate5m", "{{topic}}")],
                unit="ops",
                w=8,
            )
        )
        .with_panel(
            ts(
                "Batch processing time",
                "p50 and p99 of one batch, per worker.",
                [
                    query(
                        "histogram_quantile(0.5, sum by (instance, le) "
                        f"(rate(brandpulse_batch_processing_seconds_bucket{{{inst}}}[$__rate_interval])))",
                        "{{instance}} p50",
                    ),
                    query(
                        "histogram_quantile(0.99, sum by (instance, le) "
                        f"(rate(brandpulse_batch_processing_seconds_bucket{{{inst}}}[$__rate_interval])))",
                        "{{instance}} p99",
                    ),
                ],
                unit="s",
                w=8,
            )
        )
    )
    d = d.with_row(db.Row("Data quality"))
    d = (
        d.with_panel(
            ts(
                "Rejected events by reason",
                "malformed_json, schema, oversized, unknown_brand, unknown_platform, "
                "future_timestamp, key_mismatch.",
                [query("reason:brandpulse_events_rejected:rate5m", "{{reason}}")],
                unit="ops",
                w=8,
            )
        )
        .with_panel(
            ts(
                "Duplicate events per brand",
                "Events seen twice (redelivery, replays) and ignored.",
                [
                    query(
                        "sum by (brand) "
                        "(rate(brandpulse_duplicate_events_total[$__rate_interval]))",
                        "{{brand}}",
                    )
                ],
                unit="ops",
                w=8,
            )
        )
        .with_panel(
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
            )
        )
        .with_panel(
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
            )
        )
    )
    d = d.with_row(db.Row("Kafka"))
    d = (
        d.with_panel(
            ts(
                "Consumer lag per partition (workers)",
                "High watermark minus the last processed offset + 1, as reported by the "
                "worker that owns the partition.",
                [
                    query(
                        f"max by (topic, partition) (brandpulse_consumer_lag_messages{{{inst}}})",
                        "{{topic}}/{{partition}}",
                    )
                ],
                w=8,
            )
        )
        .with_panel(
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
            )
        )
        .with_panel(
            ts(
                "Rebalances",
                "Consumer-group rebalances per worker, per 5 minutes.",
                [
                    query(
                        f"sum by (instance) (increase(brandpulse_rebalances_total{{{inst}}}[5m]))",
                        "{{instance}}",
                    )
                ],
                bars=True,
                w=8,
            )
        )
    )
    d = d.with_row(db.Row("Freshness"))
    d = d.with_panel(
        ts(
            "Newest processed event age per partition",
            "Wall time now minus created_at of the newest event processed on the partition, "
            "computed at scrape time: it climbs while a worker is stalled (and on a quiet "
            "partition, where lag stays 0). Alert: BrandpulseWorkerFallingBehind.",
            [
                query(
                    f"max by (topic, partition) (brandpulse_newest_event_age_seconds{{{inst}}})",
                    "{{topic}}/{{partition}}",
                )
            ],
            unit="s",
            threshold_lines=[(None, "transparent"), (300, "red")],
        )
    ).with_panel(
        ts(
            "Event processing delay",
            "p50 and p99 of processing time minus created_at of the newest event of each "
            "partition's batch, per worker (includes the time spent waiting in Kafka).",
            [
                query(
                    "histogram_quantile(0.5, sum by (instance, le) (rate("
                    f"brandpulse_event_processing_delay_seconds_bucket{{{inst}}}[$__rate_interval])))",
                    "{{instance}} p50",
                ),
                query(
                    "histogram_quantile(0.99, sum by (instance, le) (rate("
                    f"brandpulse_event_processing_delay_seconds_bucket{{{inst}}}[$__rate_interval])))",
                    "{{instance}} p99",
                ),
            ],
            unit="s",
        )
    )
    d = d.with_row(db.Row("Sources"))
    src = 'job="brandpulse-ingest"'
    d = (
        d.with_panel(
            ts(
                "Source connected",
                "1 while each `brandpulse ingest` connector is connected to its network "
                "(webhooks: listening). Alert: BrandpulseSourceDown (0 for 5 minutes).",
                [query(f"max by (source) (brandpulse_source_connected{{{src}}})", "{{source}}")],
                unit="none",
                w=6,
            )
        )
        .with_panel(
            ts(
                "Source events per second",
                "Events each connector handed to the topics, by side.",
                [
                    query(
                        "sum by (source, side) (rate(brandpulse_source_events_total"
                        f"{{{src}}}[$__rate_interval]))",
                        "{{source}} {{side}}",
                    )
                ],
                unit="reqps",
                w=6,
            )
        )
        .with_panel(
            ts(
                "Source lag",
                "Now minus the newest event time each connector reached. Alert: "
                "BrandpulseSourceLagging (above 5 minutes for 10 minutes).",
                [query(f"max by (source) (brandpulse_source_lag_seconds{{{src}}})", "{{source}}")],
                unit="s",
                threshold_lines=[(None, "transparent"), (300, "red")],
                w=6,
            )
        )
        .with_panel(
            ts(
                "Source input rejected and skipped",
                "Rejected: wrong input (bad signature, schema, future time). Skipped: input "
                "deliberately ignored (strangers' posts, deletes...). Reconnects too.",
                [
                    query(
                        "sum by (source, reason) (rate(brandpulse_source_rejected_total"
                        f"{{{src}}}[$__rate_interval]))",
                        "rejected {{source}} {{reason}}",
                    ),
                    query(
                        "sum by (source, reason) (rate(brandpulse_source_skipped_total"
                        f"{{{src}}}[$__rate_interval]))",
                        "skipped {{source}} {{reason}}",
                    ),
                    query(
                        "sum by (source) (rate(brandpulse_source_reconnects_total"
                        f"{{{src}}}[$__rate_interval]))",
                        "reconnects {{source}}",
                    ),
                ],
                unit="reqps",
                w=6,
            )
        )
    )
    d = d.with_panel(
        _common(
            table.Panel(),
            "Build info",
            "Version running on each worker.",
            [tq(f"brandpulse_build_info{{{inst}}}")],
            "none",
            24,
            5,
        )
    )
    return d


DASHBOARDS: dict[str, Callable[[], db.Dashboard]] = {
    "brandpulse-scorecard.json": scorecard,
    "brandpulse-reply-sla.json": reply_sla,
    "brandpulse-crisis.json": crisis,
    "brandpulse-pipeline.json": pipeline,
    "brandpulse-competitors.json": competitors,
}


def _finalise(model: dict[str, Any]) -> dict[str, Any]:
    """Stable panel ids (Grafana needs unique ones) and the SDK-unsupported annotation keys."""
    next_id = 1
    for panel in model.get("panels", []):
        panel["id"] = next_id
        next_id += 1
        for inner in panel.get("panels", []):
            inner["id"] = next_id
            next_id += 1
    for ann in model.get("annotations", {}).get("list", []):
        ann.update(ANNOTATION_EXTRAS.get(ann.get("name", ""), {}))
    return model


def render(builder: db.Dashboard) -> str:
    """Dashboard builder -> the exact text committed under grafana/dashboards."""
    model = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return json.dumps(_finalise(model), indent=2, sort_keys=True) + "\n"


def build(out_dir: Path) -> list[Path]:
    """Write every dashboard into out_dir; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, factory in DASHBOARDS.items():
        path = out_dir / name
        path.write_text(render(factory()), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m grafana.build [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
