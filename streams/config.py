"""All configuration in one place: the brands file (TOML) and the worker settings.

Both are validated once, at start. A mistake stops the process with a message that names
the field and says how to fix it, because a worker that starts with a wrong SLA would
publish wrong numbers for hours before anyone noticed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.core.brand import (
    DEFAULT_AT_RISK_SHARE,
    DEFAULT_EXPIRE_AFTER_SECONDS,
    DEFAULT_SLA_SECONDS,
    GLOBAL_SCOPE,
    BrandConfig,
    BrandsConfig,
)
from streams.core.business_hours import (
    DAY_NAMES,
    BusinessHours,
    Shift,
    holiday_dates,
    parse_clock_seconds,
    parse_shift,
    week_overlap,
)
from streams.core.policy import DEFAULT_POLICY, MESSAGE_KINDS, POLICY_NAME, SlaPolicy
from streams.events import MAX_FUTURE_SKEW_SECONDS

#: A competitor group: a metric label value, so short and plain.
GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
AGENT_INITIALS = re.compile(r"[A-Za-z]{1,3}")  # as streams.core.similarity reads signatures
#: The internal key's shortest length: HMAC-SHA256 keys under 32 bytes are guessable offline.
MIN_INTERNAL_KEY_BYTES = 32
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
KNOWN_PLATFORMS = ("twitter", "instagram", "facebook", "tiktok", "linkedin", "youtube", "bluesky",
                   "mastodon", "chatwoot", "other")
# Bluesky accounts: a DID (did:plc:<24 base32 chars> or did:web:<host>) works offline; a handle
# (acme.bsky.social) is resolved to its DID by the Bluesky source when it starts.
BLUESKY_DID = re.compile(r"did:(?:plc:[a-z2-7]{24}|web:[a-z0-9.%-]+(?::[a-z0-9.%-]+)*)")
BLUESKY_HANDLE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))+")
MASTODON_ACCOUNT = re.compile(r"[a-z0-9_]+(?:[a-z0-9_.-]*[a-z0-9_])?@[a-z0-9-]+(?:\.[a-z0-9-]+)+")


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field and the fix."""


def _fail(where: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{where}: {problem}. Fix: {fix}")


def _positive_seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _fail(where, f"must be a positive number of seconds, got {value!r}",
                    "write e.g. 3600 for one hour")
    return float(value)


_HOURS_FIELDS = ("timezone", "days", "start", "end", "holidays", "closed", *DAY_NAMES)


def _business_hours(raw: Any, where: str) -> BusinessHours:
    if not isinstance(raw, dict):
        raise _fail(where, "must be a table", 'write [brand.business_hours] with timezone, '
                    'days, start and end')
    unknown = set(raw) - set(_HOURS_FIELDS)
    if unknown:
        raise _fail(f"{where}.{sorted(unknown)[0]}", "unknown field",
                    f"use only {', '.join(_HOURS_FIELDS)}")
    tz_name = raw.get("timezone", "UTC")
    try:
        timezone = ZoneInfo(str(tz_name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _fail(f"{where}.timezone", f"unknown time zone {tz_name!r}",
                    'use an IANA name such as "Europe/Paris" or "America/New_York"') from exc
    days = raw.get("days", list(DAY_NAMES[:5]))
    if not isinstance(days, list) or not days:
        raise _fail(f"{where}.days", "must be a non-empty list", 'write ["mon", "tue", "wed"]')
    open_days: set[int] = set()
    for day in days:
        if not isinstance(day, str) or day.lower()[:3] not in DAY_NAMES:
            raise _fail(f"{where}.days", f"unknown day {day!r}",
                        f"use three-letter names among {', '.join(DAY_NAMES)}")
        open_days.add(DAY_NAMES.index(day.lower()[:3]))
    clocks = {}
    for key, default in (("start", "09:00"), ("end", "18:00")):
        try:
            clocks[key] = parse_clock_seconds(str(raw.get(key, default)))
        except ValueError as exc:
            raise _fail(f"{where}.{key}", str(exc), 'write 24-hour "HH:MM", e.g. "09:00"') from exc
    if clocks["start"] == clocks["end"] or clocks["start"] == 86400:
        raise _fail(f"{where}.end", "must differ from start",
                    'use start = "00:00" and end = "24:00" for a whole day; an end before '
                    'the start runs past midnight (e.g. "22:00" to "06:00")')
    default_shift = parse_shift(f"{raw.get('start', '09:00')}-{raw.get('end', '18:00')}")
    week: list[tuple[Shift, ...]] = []
    for index, name in enumerate(DAY_NAMES):
        if name not in raw:
            week.append((default_shift,) if index in open_days else ())
            continue
        shifts = raw[name]
        if isinstance(shifts, str):
            shifts = [shifts]
        fix = f'write {name} = ["09:00-12:00", "14:00-18:00"] ([] closes the day)'
        if not isinstance(shifts, list) or not all(isinstance(x, str) for x in shifts):
            raise _fail(f"{where}.{name}", "must be a list of \"HH:MM-HH:MM\" shifts", fix)
        try:
            week.append(tuple(sorted(parse_shift(x) for x in shifts)))
        except ValueError as exc:
            raise _fail(f"{where}.{name}", str(exc), fix) from None
    overlap = week_overlap(tuple(week))
    if overlap is not None:
        raise _fail(where, overlap, "make each shift end before the next one opens")
    if not any(week):
        raise _fail(f"{where}.days", "the desk never opens",
                    "list at least one open day, or remove business_hours (24/7)")
    country = raw.get("holidays")
    if country is not None:
        if not isinstance(country, str) or not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]+)?",
                                                            country):
            raise _fail(f"{where}.holidays", f"must be a country code, got {country!r}",
                        'write holidays = "FR" (or with a subdivision: "US-CA", "DE-BY")')
        code, _, subdiv = country.partition("-")
        country = code.upper() + (f"-{subdiv.upper()}" if subdiv else "")
        try:
            holiday_dates(country, 2026)
        except ValueError as exc:
            raise _fail(f"{where}.holidays", str(exc),
                        "use an ISO 3166 country code the holidays package supports, with an "
                        "optional subdivision (US-CA, DE-BY)") from None
    closed_raw = raw.get("closed", [])
    if not isinstance(closed_raw, list):
        raise _fail(f"{where}.closed", "must be a list of dates", 'write closed = ["2026-12-31"]')
    closed: set[date] = set()
    for value in closed_raw:
        try:
            closed.add(value if isinstance(value, date) else date.fromisoformat(str(value)))
        except ValueError:
            raise _fail(f"{where}.closed", f"{value!r} is not a date",
                        'write ISO dates: closed = ["2026-12-31"]') from None
    return BusinessHours(timezone, tuple(week), country, frozenset(closed))


_POLICY_FIELDS = ("name", "sla_seconds", "kinds", "platforms", "authors", "keywords")


def _strings(raw: Any, key: str, where: str, example: str) -> list[str]:
    values = raw.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise _fail(f"{where}.{key}", "must be a list of non-empty strings",
                    f"write {key} = {example}")
    return [v.strip() for v in values]


def _policies(raw: Any, where: str, platforms: frozenset[str], expire: float
              ) -> tuple[SlaPolicy, ...]:
    """[[brand.policy]] tables, in precedence order (first match wins)."""
    if not isinstance(raw, list):
        raise _fail(where, "must be an array of tables",
                    'write [[brand.policy]] with name, sla_seconds and conditions')
    policies: list[SlaPolicy] = []
    for index, table in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(table, dict):
            raise _fail(at, "must be a table", "write [[brand.policy]] then name = ...")
        unknown = set(table) - set(_POLICY_FIELDS)
        if unknown:
            raise _fail(f"{at}.{sorted(unknown)[0]}", "unknown field",
                        f"use only {', '.join(_POLICY_FIELDS)}")
        name = table.get("name")
        if not isinstance(name, str) or not POLICY_NAME.fullmatch(name):
            raise _fail(f"{at}.name", f"must be a short lower-case identifier, got {name!r}",
                        'write name = "vip" (a-z, 0-9, _; it becomes the policy label)')
        if name == DEFAULT_POLICY or name in (p.name for p in policies):
            problem = "reserved" if name == DEFAULT_POLICY else "used twice"
            raise _fail(f"{at}.name", f"{name!r} is {problem}",
                        f'give each policy its own name; "{DEFAULT_POLICY}" is the brand\'s '
                        "sla_seconds")
        at = f"{where}[{index}] ({name})"
        if "sla_seconds" not in table:
            raise _fail(f"{at}.sla_seconds", "is missing", "write sla_seconds = 900")
        sla = _positive_seconds(table["sla_seconds"], f"{at}.sla_seconds")
        if sla >= expire:
            raise _fail(f"{at}.sla_seconds", "must be shorter than expire_after_seconds",
                        "lower the target or raise the brand's expire_after_seconds")
        kinds = _strings(table, "kinds", at, '["direct_message"]')
        bad = [k for k in kinds if k not in MESSAGE_KINDS]
        if bad:
            raise _fail(f"{at}.kinds", f"unknown kind {bad[0]!r}",
                        f"use among {', '.join(MESSAGE_KINDS)}")
        listed = _strings(table, "platforms", at, '["twitter"]')
        bad = [p for p in listed if p not in platforms]
        if bad:
            raise _fail(f"{at}.platforms", f"{bad[0]!r} is not among the brand's handles",
                        f"use among {', '.join(sorted(platforms))} or add its handles")
        authors = _strings(table, "authors", at, '["bigcustomer"]')
        keywords = _strings(table, "keywords", at, '["urgent", "cancel*"]')
        policy = SlaPolicy(name, sla, frozenset(kinds), frozenset(listed),
                           frozenset(a.lower().lstrip("@") for a in authors),
                           tuple(k.casefold() for k in keywords))
        if policies and policies[-1].unconditional:
            raise _fail(f"{at}", f"can never apply: {policies[-1].name!r} before it has no "
                        "condition and takes every message", "move the catch-all policy last")
        policies.append(policy)
    return tuple(policies)


def _share(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise _fail(where, f"must be a share between 0 and 1 (exclusive), got {value!r}",
                    "write 0.75 to flag messages past three quarters of their target")
    return float(value)


def _agents(raw: Any, where: str) -> frozenset[str]:
    if not isinstance(raw, list) or not all(isinstance(a, str) and AGENT_INITIALS.fullmatch(a)
                                            for a in raw):
        raise _fail(where, f"must list agents' signature initials (1-3 letters), got {raw!r}",
                    'write agents = ["JB", "AD"] for replies signed ^JB or -AD')
    return frozenset(a.upper() for a in raw)


def _check_account_handles(platform: str, names: frozenset[str], where: str) -> None:
    """Bluesky and Mastodon connectors match accounts exactly, so their shape is checked here."""
    for name in sorted(names):
        if platform == "bluesky" and not (BLUESKY_DID.fullmatch(name)
                                          or BLUESKY_HANDLE.fullmatch(name)):
            raise _fail(where, f"{name!r} is neither a DID nor a Bluesky handle",
                        'write bluesky = ["did:plc:..."] (or a handle like "acme.bsky.social")')
        if platform == "mastodon" and not MASTODON_ACCOUNT.fullmatch(name):
            raise _fail(where, f"{name!r} is not an account of the form user@instance",
                        'write mastodon = ["acme@mastodon.social"]')


def _brand(raw: Any, index: int, defaults: Mapping[str, Any]) -> BrandConfig:
    where = f"brand[{index}]"
    if not isinstance(raw, dict):
        raise _fail(where, "must be a table", "write [[brand]] followed by name = ...")
    allowed = {"name", "handles", "sla_seconds", "expire_after_seconds", "languages",
               "business_hours", "policy", "at_risk_share", "agents", "group"}
    unknown = set(raw) - allowed
    if unknown:
        raise _fail(f"{where}.{sorted(unknown)[0]}", "unknown field",
                    f"use only {', '.join(sorted(allowed))}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise _fail(f"{where}.name", f"must be a non-empty string without surrounding spaces, "
                    f"got {name!r}", 'write name = "acme"')
    if name == GLOBAL_SCOPE:
        raise _fail(f"{where}.name",
                    f'"{GLOBAL_SCOPE}" is reserved for the cross-brand crisis scope',
                    'rename the brand, e.g. "global-brand"')
    where = f"brand[{index}] ({name})"
    handles_raw = raw.get("handles", {})
    if not isinstance(handles_raw, dict) or not handles_raw:
        raise _fail(f"{where}.handles", "must list at least one platform",
                    'write handles = { twitter = ["AcmeSupport"] }')
    handles: dict[str, frozenset[str]] = {}
    for platform, names in handles_raw.items():
        if platform not in KNOWN_PLATFORMS:
            raise _fail(f"{where}.handles.{platform}", "unknown platform",
                        f"use one of {', '.join(KNOWN_PLATFORMS)}")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise _fail(f"{where}.handles.{platform}", "must be a list of handle strings",
                        f'write {platform} = ["AcmeSupport"]')
        handles[platform] = frozenset(n.lower().lstrip("@") for n in names)
        _check_account_handles(platform, handles[platform], f"{where}.handles.{platform}")
    languages = raw.get("languages", ["en"])
    if not isinstance(languages, list) or not all(lang in ("en", "fr") for lang in languages):
        raise _fail(f"{where}.languages", f"must be a list of 'en'/'fr', got {languages!r}",
                    'write languages = ["en", "fr"]')
    sla = _positive_seconds(raw.get("sla_seconds", defaults["sla_seconds"]), f"{where}.sla_seconds")
    expire = _positive_seconds(raw.get("expire_after_seconds", defaults["expire_after_seconds"]),
                               f"{where}.expire_after_seconds")
    if expire <= sla:
        raise _fail(f"{where}.expire_after_seconds", "must be longer than sla_seconds",
                    "messages expire days after their SLA, e.g. 604800 (7 days)")
    hours = raw.get("business_hours")
    group = raw.get("group")
    if group is not None and not (isinstance(group, str) and GROUP_NAME.fullmatch(group)):
        raise _fail(f"{where}.group", f"must be a short lower-case name, got {group!r}",
                    'write group = "airlines" (a-z, 0-9, - and _, at most 64; it becomes the '
                    "group label shared by the competitors compared together)")
    return BrandConfig(
        name=name,
        handles=handles,
        sla_seconds=sla,
        expire_after_seconds=expire,
        languages=tuple(languages),
        business_hours=None if hours is None else _business_hours(hours, f"{where}.business_hours"),
        policies=_policies(raw.get("policy", []), f"{where}.policy", frozenset(handles), expire),
        at_risk_share=_share(raw.get("at_risk_share", defaults["at_risk_share"]),
                             f"{where}.at_risk_share"),
        agents=_agents(raw.get("agents", []), f"{where}.agents"),
        group=group,
    )


def parse_brands(document: Mapping[str, Any], source: str = "brands file") -> BrandsConfig:
    """Validate a parsed brands document; errors name `source` and the field."""
    try:
        unknown = set(document) - {"defaults", "brand"}
        if unknown:
            raise _fail(sorted(unknown)[0], "unknown top-level key",
                        "use [defaults] and [[brand]] only")
        raw_defaults = document.get("defaults", {})
        if not isinstance(raw_defaults, dict):
            raise _fail("defaults", "must be a table", "write [defaults]")
        defaults = {
            "sla_seconds": _positive_seconds(raw_defaults.get("sla_seconds", DEFAULT_SLA_SECONDS),
                                             "defaults.sla_seconds"),
            "expire_after_seconds": _positive_seconds(
                raw_defaults.get("expire_after_seconds", DEFAULT_EXPIRE_AFTER_SECONDS),
                "defaults.expire_after_seconds"),
            "at_risk_share": _share(raw_defaults.get("at_risk_share", DEFAULT_AT_RISK_SHARE),
                                    "defaults.at_risk_share"),
        }
        raw_brands = document.get("brand", [])
        if not isinstance(raw_brands, list) or not raw_brands:
            raise _fail("brand", "no brand is configured",
                        'add at least one [[brand]] table with name and handles')
        brands: dict[str, BrandConfig] = {}
        for index, raw in enumerate(raw_brands):
            brand = _brand(raw, index, defaults)
            if brand.name in brands:
                raise _fail(f"brand[{index}].name", f"duplicate brand {brand.name!r}",
                            "give every brand a unique name")
            brands[brand.name] = brand
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return BrandsConfig(brands, defaults["sla_seconds"], defaults["expire_after_seconds"])


def load_brands(path: str | os.PathLike[str]) -> BrandsConfig:
    """Read and validate a brands TOML file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
        document = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found. Fix: pass --brands PATH or set "
                          "BRANDPULSE_BRANDS to an existing brands TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml_error_where(file, str(exc), text)}. Fix: check the quoting "
                          "and brackets on that line or above it") from None
    return parse_brands(document, str(file))


_TOML_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def toml_error_where(file: Path, message: str, text: str) -> str:
    """"FILE, line N: not valid TOML (problem)". Why: tomllib (3.11) puts the position in
    its message, and says only "at end of document" for a string, array or table left
    open; that is the last line, worth saying too."""
    if found := _TOML_AT_LINE.search(message):
        return (f"{file}, line {found[1]}: not valid TOML ({message[:found.start()]}, "
                f"column {found[2]})")
    if message.endswith("(at end of document)"):
        last = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        problem = message.removesuffix(" (at end of document)")
        return f"{file}, line {last}: not valid TOML ({problem} at the end of the file)"
    return f"{file}: not valid TOML ({message})"


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Kafka topic names; both inputs are keyed by brand and co-partitioned."""

    brand_posts: str = "brandpulse.brand-posts"
    audience_messages: str = "brandpulse.audience-messages"
    dead_letter: str = "brandpulse.dead-letter"
    alerts: str = "brandpulse.alerts"  # tone-deaf posts, one JSON record each
    control: str = "brandpulse.control"  # operator-declared crises, read by every worker
    crisis_shares: str = "brandpulse.crisis-shares"  # audience counts for the global scope


def changelog_topic(app_id: str) -> str:
    """The state changelog's topic (compacted; streams/worker/state.py). The name is the one the
    worker's former Faust table used, so state written before is read on upgrade."""
    return f"{app_id}-sla-state-changelog"


@dataclass(frozen=True, slots=True)
class Settings:
    """How a worker connects and runs. Flags override BRANDPULSE_* environment variables."""

    broker: str = "kafka://127.0.0.1:9092"
    brands_path: str | None = None
    metrics_port: int = 9100
    # Local only by default; containers set 0.0.0.0 so that Prometheus and probes reach it.
    metrics_host: str = "127.0.0.1"
    app_id: str = "brandpulse"
    partitions: int = 6
    replication_factor: int = 1
    topics: TopicNames = field(default_factory=TopicNames)
    data_dir: str = "./brandpulse-data"
    max_event_bytes: int = 64 * 1024
    # A batch is taken when batch_size events are buffered or batch_within_seconds after
    # the previous one: the window is both the latency floor under light load and the idle
    # time per batch under heavy load (Faust's take_events waits it out even with a backlog).
    batch_size: int = 2000
    batch_within_seconds: float = 0.05
    sla_check_interval_seconds: float = 1.0
    analyse_behaviour: bool = True  # sentiment, crisis, tone-deaf, templated, topics
    # Events dated further than this after the wall clock go to the dead letter
    # (future_timestamp) and never reach a clock.
    max_future_skew_seconds: float = MAX_FUTURE_SKEW_SECONDS
    # How often each worker shares its audience counts for the global crisis scope.
    crisis_share_seconds: float = 5.0
    # Test/demo workarounds for tansu 0.6 (see docs/tansu.md); production Kafka needs none.
    producer_max_batch_size: int | None = None
    # Longest a consumer fetch waits on the broker for new records (None: Faust's 1500 ms).
    # Kafka answers as soon as one record arrives; tansu 0.6 does not (docs/tansu.md).
    consumer_fetch_max_wait_ms: int | None = None
    session_timeout_seconds: float = 30.0
    heartbeat_interval_seconds: float = 3.0
    # The shared secret that signs and verifies the internal records (control and crisis
    # shares; streams/wire/signing.py), and the one it replaces during a rotation. Kept
    # out of repr: a Settings printed in a log or a traceback must not leak it.
    internal_key: str | None = field(default=None, repr=False)
    internal_key_previous: str | None = field(default=None, repr=False)
    # Development only: run without a key (nothing signed, every record believed).
    allow_unsigned: bool = False

    def validate(self) -> Settings:
        if not self.broker.startswith(("kafka://", "aiokafka://")):
            raise ConfigError(f"broker: {self.broker!r} is not a Kafka URL. Fix: write "
                              "kafka://HOST:PORT (several separated by ';')")
        if not is_listen_host(self.metrics_host):
            raise ConfigError(f"metrics_host: {self.metrics_host!r} is not an IP address or host "
                              "name. Fix: use 127.0.0.1 (this machine only) or 0.0.0.0 (every "
                              "interface, e.g. in a container), without port or scheme")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port: {self.metrics_port} is not a TCP port. Fix: use "
                              "1-65535 (0 picks a free one)")
        if self.partitions < 1:
            raise ConfigError(f"partitions: {self.partitions}. Fix: use a positive count, the "
                              "same for both input topics")
        if self.batch_size < 1 or self.batch_within_seconds <= 0:
            raise ConfigError("batch_size/batch_within_seconds: must be positive. Fix: keep "
                              "the defaults 2000 and 0.05")
        if self.consumer_fetch_max_wait_ms is not None \
                and not 1 <= self.consumer_fetch_max_wait_ms <= 60_000:
            raise ConfigError(f"consumer_fetch_max_wait_ms: {self.consumer_fetch_max_wait_ms} "
                              "is out of range. Fix: use 1-60000 ms, or leave it unset")
        self._validate_internal_keys()
        for name in ("max_future_skew_seconds", "crisis_share_seconds"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: {getattr(self, name)!r} is not a positive interval. "
                                  f"Fix: keep the default "
                                  f"{Settings.__dataclass_fields__[name].default}")
        return self

    def _validate_internal_keys(self) -> None:
        for name in ("internal_key", "internal_key_previous"):
            value = getattr(self, name)
            if value is not None and len(value.encode()) < MIN_INTERNAL_KEY_BYTES:
                raise ConfigError(
                    f"{name}: {ENVIRONMENT[name][0]} is {len(value.encode())} bytes long, "
                    f"shorter than {MIN_INTERNAL_KEY_BYTES}. Fix: generate one with "
                    "`openssl rand -hex 32` (docs/operations.md, internal key)")
        if self.internal_key_previous is not None and self.internal_key is None:
            raise ConfigError("internal_key_previous: set without BRANDPULSE_INTERNAL_KEY. "
                              "Fix: set the new key in BRANDPULSE_INTERNAL_KEY and the old one "
                              "in BRANDPULSE_INTERNAL_KEY_PREVIOUS")

    @property
    def internal_keys(self) -> tuple[bytes, ...]:
        """The key to sign with, then the previous one (verify only); () without a key."""
        return tuple(k.encode() for k in (self.internal_key, self.internal_key_previous)
                     if k is not None)

    def require_internal_key(self, who: str) -> tuple[bytes, ...]:
        """The internal keys, or a ConfigError: `who` (a worker, `brandpulse crisis`) must
        not silently write or believe unsigned control and share records. Empty only in
        the explicit unsigned mode (BRANDPULSE_ALLOW_UNSIGNED=1, development)."""
        if not self.internal_keys and not self.allow_unsigned:
            raise ConfigError(
                f"internal_key: {who} needs BRANDPULSE_INTERNAL_KEY, the secret shared by the "
                "workers and operators that signs control and crisis-share records. Fix: "
                "export BRANDPULSE_INTERNAL_KEY=$(openssl rand -hex 32) everywhere (the same "
                "value), or BRANDPULSE_ALLOW_UNSIGNED=1 on a development machine only "
                "(docs/operations.md)")
        return self.internal_keys


def is_listen_host(host: str) -> bool:
    """An IPv4/IPv6 address or a DNS host name (what a listening socket can bind)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    return (0 < len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit())  # 256.1.1.1 is a bad address, not a name


def boolean(value: str) -> bool:
    """Environment flag: 1/true/yes/on or 0/false/no/off."""
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "broker": ("BRANDPULSE_BROKER", str),
    "brands_path": ("BRANDPULSE_BRANDS", str),
    "metrics_port": ("BRANDPULSE_METRICS_PORT", int),
    "metrics_host": ("BRANDPULSE_METRICS_HOST", str),
    "app_id": ("BRANDPULSE_APP_ID", str),
    "partitions": ("BRANDPULSE_PARTITIONS", int),
    "data_dir": ("BRANDPULSE_DATA_DIR", str),
    "analyse_behaviour": ("BRANDPULSE_ANALYSE_BEHAVIOUR", boolean),
    "max_future_skew_seconds": ("BRANDPULSE_MAX_FUTURE_SKEW_SECONDS", float),
    "crisis_share_seconds": ("BRANDPULSE_CRISIS_SHARE_SECONDS", float),
    "batch_size": ("BRANDPULSE_BATCH_SIZE", int),
    "batch_within_seconds": ("BRANDPULSE_BATCH_WITHIN_SECONDS", float),
    "consumer_fetch_max_wait_ms": ("BRANDPULSE_CONSUMER_FETCH_MAX_WAIT_MS", int),
    "internal_key": ("BRANDPULSE_INTERNAL_KEY", str),
    "internal_key_previous": ("BRANDPULSE_INTERNAL_KEY_PREVIOUS", str),
    "allow_unsigned": ("BRANDPULSE_ALLOW_UNSIGNED", boolean),
}


def settings_from(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from environment variables, then explicit (flag) overrides that are not None."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name, (variable, kind) in ENVIRONMENT.items():
        if variable in env:
            try:
                values[name] = kind(env[variable])
            except ValueError:
                raise ConfigError(f"{variable}: {env[variable]!r} is not a valid "
                                  f"{getattr(kind, '__name__', 'value')}. Fix: set it to e.g. "
                                  f"{Settings.__dataclass_fields__[name].default!r}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values).validate()
