"""Per-agent statistics of one brand: replies signed, first responses and their
quantiles, the share within target (docs/metrics.md, "Per agent").

Each hour bucket of the SLA book holds its agents' `AgentHour`, derived from its records;
`window_stats` sums the buckets of a window into one `AgentStats` per agent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["AgentHour", "AgentStats", "quantile", "window_stats"]


def quantile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile (numpy's default); None for no values."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


@dataclass(frozen=True, slots=True)
class AgentStats:
    """One agent's replies and first responses (see docs/metrics.md, per-agent)."""

    replies: int
    first_responses: int
    first_response_p50: float | None
    first_response_p90: float | None
    sla_met_share: float | None  # within target / first responses; None without any


class AgentHour:
    """One agent's share of one hour bucket: derived from its records, never persisted."""

    __slots__ = ("met", "replies", "samples")

    def __init__(self) -> None:
        self.replies = 0
        self.met = 0
        self.samples: list[float] = []  # first-response seconds


def window_stats(hours: Iterable[dict[str, AgentHour]]) -> dict[str, AgentStats]:
    """Per agent over the given hour buckets' statistics: replies signed, first responses,
    their p50/p90 and the share within target. Cost: one sort of the window's
    first-response times."""
    replies: dict[str, int] = {}
    met: dict[str, int] = {}
    samples: dict[str, list[float]] = {}
    for agents in hours:
        for agent, stats in agents.items():
            replies[agent] = replies.get(agent, 0) + stats.replies
            met[agent] = met.get(agent, 0) + stats.met
            samples.setdefault(agent, []).extend(stats.samples)
    result: dict[str, AgentStats] = {}
    for agent in sorted(replies):
        values = sorted(samples[agent])
        if not (replies[agent] or values):
            continue
        result[agent] = AgentStats(replies[agent], len(values), quantile(values, 0.5),
                                   quantile(values, 0.9),
                                   met[agent] / len(values) if values else None)
    return result
