"""The Reply SLA board: how fast each brand answers, against its target and error budget.

First-response quantiles, the share answered within target (SLO 95 %), the burn rates the
alerts page on, the unanswered backlog, per-policy and per-agent views, and the
conversation volumes behind them.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import timeseries

from grafana.panels import B, add_row, brand_variable, dashboard, query, ts

# Reply-SLA objective: 95 % answered within target => 5 % error budget (see deploy rules).
ERROR_BUDGET = 0.05


def build() -> db.Dashboard:
    """First-response quantiles, SLO compliance, error-budget burn and backlog per brand."""
    d = dashboard(
        "brandpulse-reply-sla",
        "brandpulse · Reply SLA",
        "First-response time from the histogram, share answered within the brand's target "
        "(SLO 95 %), error-budget burn rates as alerted on, and the unanswered backlog.",
    ).with_variable(brand_variable())
    d = add_row(d, "First response", _first_response())
    d = add_row(d, "SLO and error budget", _slo_and_budget())
    d = add_row(d, "Backlog", _backlog())
    d = add_row(d, "Policies, follow-ups and agents", _policies_and_follow_ups() + _agents())
    d = add_row(d, "Conversation", _conversation())
    return add_row(d, "Inbox conversations", _inbox())


def _first_response() -> list[timeseries.Panel]:
    """Quantiles against the target, overall and per platform."""
    return [
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
        ),
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
        ),
    ]


def _slo_and_budget() -> list[timeseries.Panel]:
    """Compliance, burn rates at the alerts' thresholds, and the outcomes counted."""
    return [
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
        ),
        ts(
            "Error-budget burn rate",
            "Error ratio / budget (5 %). Alerts: 14.4x (1h & 5m) page, 6x (6h & 30m) "
            "page, 1x (3d & 6h) ticket.",
            [
                query(
                    f"brand:brandpulse_sla_error_ratio:{rate}{{{B}}} / {ERROR_BUDGET}",
                    f"{{{{brand}}}} {window}",
                )
                for rate, window in (("rate1h", "1h"), ("rate6h", "6h"), ("rate3d", "3d"))
            ],
            unit="suffix:x",
            min_val=0,
            threshold_lines=[(None, "green"), (1, "yellow"), (6, "orange"), (14.4, "red")],
            w=8,
        ),
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
        ),
    ]


def _backlog() -> list[timeseries.Panel]:
    """What is still waiting, how old it is, what is at risk and what expired."""
    return [
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
        ),
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
        ),
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
        ),
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
        ),
    ]


def _policies_and_follow_ups() -> list[timeseries.Panel]:
    """Compliance per SLA policy, and how fast follow-ups in answered threads get a reply."""
    met = f"sum by (brand, policy) (increase(brandpulse_sla_met_total{{{B}}}[1d]))"
    breaches = f"sum by (brand, policy) (increase(brandpulse_sla_breaches_total{{{B}}}[1d]))"
    return [
        ts(
            "Share answered within SLA by policy (24h)",
            "met / (met + breaches) per SLA policy: each message is judged against the "
            "target of the first policy it matches (VIP, keywords, DMs...), else default.",
            [query(f"{met} / ({met} + {breaches})", "{{brand}} {{policy}}")],
            unit="percentunit",
            min_val=0,
            max_val=1,
            threshold_lines=[(None, "red"), (1 - ERROR_BUDGET, "green")],
            w=8,
        ),
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
        ),
    ]


def _agents() -> list[timeseries.Panel]:
    """Per agent, from the signature ending each reply."""
    return [
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
        ),
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
        ),
    ]


def _inbox() -> list[timeseries.Panel]:
    """Inbox conversations (brandpulse ingest chatwoot): resolution time and reopens."""
    return [
        ts(
            "Resolution time p50 / p90 (24h)",
            "From an inbox conversation's creation to its resolution (business hours when "
            "the brand's SLA uses them); every resolution counts, a reopened one again.",
            [
                query(
                    "histogram_quantile(0.5, sum by (brand, le) (rate("
                    f"brandpulse_conversation_resolution_seconds_bucket{{{B}}}[1d])))",
                    "{{brand}} p50",
                ),
                query(
                    "histogram_quantile(0.9, sum by (brand, le) (rate("
                    f"brandpulse_conversation_resolution_seconds_bucket{{{B}}}[1d])))",
                    "{{brand}} p90",
                ),
            ],
            unit="s",
            w=12,
        ),
        ts(
            "Resolved and reopened conversations (24h)",
            "Resolutions, and resolved conversations opened again (a customer wrote back, "
            "or an agent reopened it): reopened / resolved is the reopen rate.",
            [
                query(
                    "sum by (brand) (increase("
                    f"brandpulse_conversation_resolution_seconds_count{{{B}}}[1d]))",
                    "{{brand}} resolved",
                ),
                query(
                    "sum by (brand) (increase("
                    f"brandpulse_conversations_reopened_total{{{B}}}[1d]))",
                    "{{brand}} reopened",
                ),
            ],
            w=12,
        ),
    ]


def _conversation() -> list[timeseries.Panel]:
    """The volumes behind the SLA: what the audience asks and what the brand posts."""
    return [
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
        ),
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
        ),
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
        ),
    ]
