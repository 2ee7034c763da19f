"""The Crisis board: is a brand (or the platform) in crisis, and did the brand make it worse.

Crisis state per scope, audience sentiment by context, tone-deaf posts (also marked on the
time axis by an annotation), the scheduled posts that would be tone-deaf, the mention-volume
spike detector and the other behaviour signals.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from grafana.panels import (
    BEHAVIOUR,
    DS,
    B,
    PanelBuilder,
    add_row,
    brand_variable,
    dashboard,
    organize,
    query,
    single_stat,
    state_timeline,
    table_panel,
    tq,
    ts,
)

TONE_DEAF_ANNOTATION = "Tone-deaf posts"
CRISIS_ANNOTATION = "Crisis active"
# Extra fields of Grafana's Prometheus annotation query that the SDK model does not carry;
# grafana.build merges them into the annotation of the same name after rendering.
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


def build() -> db.Dashboard:
    """Crisis state, audience mood by context and tone-deaf posts marked on the time axis."""
    d = (
        dashboard(
            "brandpulse-crisis",
            "brandpulse · Crisis",
            BEHAVIOUR + "Is a brand (or the whole platform) in crisis, how does the audience "
            "feel, and did a brand post something tone-deaf meanwhile (red markers).",
        )
        .with_variable(brand_variable())
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
    d = add_row(d, "Crisis", _crisis_state())
    d = add_row(d, "Audience and brand", _audience_and_brand())
    d = add_row(d, "Mention volume", _mention_volume())
    return add_row(d, "Other behaviour signals", _other_signals())


def _crisis_state() -> list[PanelBuilder]:
    """Which scopes are in crisis, and whether the global verdict sees every worker."""
    return [
        state_timeline(
            "Crisis state",
            BEHAVIOUR + "Per scope: a brand, or 'global' for a platform-wide crisis.",
            query("max by (scope) (brandpulse_crisis_active)", "{{scope}}"),
            {"0": ("calm", "green"), "1": ("crisis", "red")},
            w=14,
            h=6,
        ),
        single_stat(
            "Brands in crisis",
            BEHAVIOUR + "Brands affected by their own or a global crisis.",
            [query("sum(brand:brandpulse_crisis_active:max)", instant=True)],
            w=5,
            h=6,
            steps=[(None, "green"), (1, "red")],
            decimals=0,
        ),
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
        ),
    ]


def _audience_and_brand() -> list[PanelBuilder]:
    """How the audience feels, what the brand posted or will post, what the crisis is about."""
    return [
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
        ),
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
        ),
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
        ),
        table_panel(
            "What each brand's crisis is about",
            BEHAVIOUR + "Top terms learned from the brand's own crisis messages against its "
            "7-day baseline (hashtags, hazard words, places and names), while the crisis is "
            "active (1) or emerging (0); the crisis alerts' crisis_terms annotation.",
            [tq('max by (scope, terms) (brandpulse_crisis_info{scope=~"$brand"})')],
            w=24,
            h=5,
            transformations=[
                organize(
                    {
                        "scope": "Brand",
                        "terms": "Learned terms",
                        "Value": "Active (1) / emerging (0)",
                    }
                )
            ],
        ),
    ]


def _mention_volume() -> list[PanelBuilder]:
    """The spike detector: rate against the brand's own baseline, its score and its terms."""
    return [
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
        ),
        ts(
            "Volume spike score",
            "Z-score of the last 15 minutes' count against the baseline's deviation and "
            "Poisson noise (NaN with less than a day of history); the alert needs >= 4.",
            [query(f"brand:brandpulse_audience_volume_score:max{{{B}}}", "{{brand}}")],
            threshold_lines=[(None, "transparent"), (4, "red")],
            w=8,
        ),
        ts(
            "Negative share of the last 15 minutes",
            "Share of the window's analysed audience messages that are negative (sentiment "
            "below -0.05): a spike of complaints, or of praise.",
            [
                query(
                    f"max by (brand) (brandpulse_audience_volume_negative_share{{{B}}})",
                    "{{brand}}",
                )
            ],
            unit="percentunit",
            min_val=0,
            max_val=1,
            w=12,
        ),
        table_panel(
            "What the spike is about",
            "Top audience terms of the last 15 minutes, shown while the brand's volume "
            "score is at least 2 (the alert's description names them too).",
            [tq(f"max by (brand, terms) (brandpulse_audience_volume_terms_info{{{B}}})")],
            w=12,
            h=8,
            transformations=[
                organize({"brand": "Brand", "terms": "Top terms"}, hide=("Time", "Value"))
            ],
        ),
    ]


def _other_signals() -> list[PanelBuilder]:
    """Templated replies (robot), topic alignment (airhead), engagement and languages."""
    return [
        ts(
            "Templated reply ratio",
            BEHAVIOUR + "Share of the brand's replies that are near-identical templates.",
            [query(f"max by (brand) (brandpulse_templated_reply_ratio{{{B}}})", "{{brand}}")],
            unit="percentunit",
            min_val=0,
            max_val=1,
            w=6,
        ),
        ts(
            "Topic alignment",
            BEHAVIOUR + "How much the brand's posts match what its audience talks about.",
            [query(f"max by (brand) (brandpulse_topic_alignment{{{B}}})", "{{brand}}")],
            unit="percentunit",
            min_val=0,
            max_val=1,
            threshold_lines=[(None, "red"), (0.3, "green")],
            w=6,
        ),
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
        ),
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
        ),
    ]
