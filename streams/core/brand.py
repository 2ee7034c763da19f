"""What the core knows of a monitored brand: its handles, its SLA and its opening hours.

Plain data, built and validated by `streams.config` from the brands file; the core reads
it and never parses configuration itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from streams.core.business_hours import BusinessHours
from streams.core.policy import DEFAULT_POLICY, SlaPolicy

DEFAULT_SLA_SECONDS = 3600.0
#: The crisis scope of the whole audience stream, beside the brands: no brand may be named so.
GLOBAL_SCOPE = "global"
DEFAULT_EXPIRE_AFTER_SECONDS = 7 * 86400.0
DEFAULT_AT_RISK_SHARE = 0.75


@dataclass(frozen=True, slots=True)
class BrandConfig:
    """One monitored brand: who speaks for it and how fast it promised to answer."""

    name: str
    handles: Mapping[str, frozenset[str]]  # platform -> lower-cased handles, without "@"
    sla_seconds: float = DEFAULT_SLA_SECONDS
    expire_after_seconds: float = DEFAULT_EXPIRE_AFTER_SECONDS
    languages: tuple[str, ...] = ("en",)
    business_hours: BusinessHours | None = None
    # SLA policies in precedence order (first match wins, else "default": sla_seconds).
    policies: tuple[SlaPolicy, ...] = ()
    # Open messages past this share of their target (and not breached) are "at risk".
    at_risk_share: float = DEFAULT_AT_RISK_SHARE
    agents: frozenset[str] = frozenset()  # upper-case initials: the `agent` metric label
    group: str | None = None  # competitors compared side by side (the `group` label)

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(sorted(self.handles))

    @property
    def policy_names(self) -> tuple[str, ...]:
        """Every value of the brand's `policy` label."""
        return (DEFAULT_POLICY, *(p.name for p in self.policies))

    def is_own_handle(self, platform: str, author: str) -> bool:
        return author.lower().lstrip("@") in self.handles.get(platform, frozenset())


@dataclass(frozen=True, slots=True)
class BrandsConfig:
    """The set of monitored brands; brand and platform are the only metric labels."""

    brands: Mapping[str, BrandConfig]
    default_sla_seconds: float = DEFAULT_SLA_SECONDS
    default_expire_after_seconds: float = DEFAULT_EXPIRE_AFTER_SECONDS

    def get(self, name: str) -> BrandConfig | None:
        return self.brands.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.brands

    def __iter__(self) -> Iterator[BrandConfig]:
        return iter(self.brands.values())

    def __len__(self) -> int:
        return len(self.brands)
