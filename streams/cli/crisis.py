"""`brandpulse crisis`: declare, end or list operator crises (the control topic), and the
crises workers detect; its arguments beside its handler."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import streams.cli.common as common
from streams.cli.common import InputError, settings_of
from streams.config import ConfigError

if TYPE_CHECKING:
    from streams.core.crisis import DeclaredCrisis

#: Where `brandpulse crisis list` asks for detected crises when --worker is not given:
#: comma-separated base URLs of workers' metrics ports.
WORKER_URL_ENV = "BRANDPULSE_WORKER_URL"


def add_crisis_arguments(crisis: argparse.ArgumentParser) -> None:
    crisis.add_argument("action", choices=["declare", "end", "list"],
                        help="declare a crisis, end one, or list the declared ones")
    crisis.add_argument("name", nargs="?",
                        help="the crisis name, as shown in alerts (declare and end)")
    crisis.add_argument("--keywords", default="", help="comma-separated keywords")
    crisis.add_argument("--hashtags", default="", help="comma-separated hashtags")
    crisis.add_argument("--region", help="optional region, informative")
    crisis.add_argument("--start", metavar="RFC3339", help="start (declare; default: now)")
    crisis.add_argument("--end", metavar="RFC3339",
                        help="end (declare: optional, open-ended without it; "
                             "end: default now)")
    crisis.add_argument("--worker", action="append", metavar="URL",
                        help="list: also the crises this worker detects (its metrics port, "
                             f"e.g. http://127.0.0.1:9100; repeat for each worker; default "
                             f"${WORKER_URL_ENV}, comma-separated)")
    common.add_broker(crisis)


def cmd_crisis(args: argparse.Namespace) -> int:
    """Declare or end a crisis on the control topic, or list the declared ones (and, from
    workers' APIs, the detected ones with what they are about)."""
    import os
    import time

    from streams.commands.control import declared_crises, send_crisis_command
    from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
    from streams.wire import format_rfc3339, parse_rfc3339

    settings = settings_of(args)
    settings.require_internal_key("brandpulse crisis")  # before the broker: exit 2
    common.check_broker(settings.broker)
    if args.action == "list":
        from collections import Counter

        refused: Counter[str] = Counter()
        crises = declared_crises(settings, refused=refused)
        if refused:  # what the workers refuse too: forged, unsigned or malformed
            print(f"crisis list: skipped {refused.total()} control record(s) the workers "
                  f"refuse ({', '.join(f'{r} {n}' for r, n in sorted(refused.items()))})",
                  file=sys.stderr)
        for crisis in crises:
            end = "ongoing" if crisis.end is None else f"ended {format_rfc3339(crisis.end)}"
            print(f"{crisis.name}: since {format_rfc3339(crisis.start)}, {end}; "
                  f"keywords={list(crisis.keywords)} hashtags={list(crisis.hashtags)}"
                  + (f" region={crisis.region}" if crisis.region else ""))
        if not crises:
            print("no declared crisis")
        workers = args.worker or [u for u in os.environ.get(WORKER_URL_ENV, "").split(",")
                                  if u.strip()]
        if not workers:
            print(f"declared crises only: pass --worker URL (or set {WORKER_URL_ENV}) to "
                  "list the detected ones too", file=sys.stderr)
            return 0
        print(_detected_lines(workers))
        return 0
    if not args.name:
        raise ConfigError("crisis: a NAME is required. Fix: brandpulse crisis declare NAME ...")

    def when(value: str | None, default: float | None) -> float | None:
        try:
            return parse_rfc3339(value) if value else default
        except ValueError as exc:
            raise ConfigError(f"crisis: {exc}. Fix: write e.g. 2026-11-25T18:00:00Z") from None

    now = time.time()
    if args.action == "declare":
        command = CrisisCommand(CommandAction.DECLARE, DeclaredCrisis(
            args.name, tuple(k for k in args.keywords.split(",") if k),
            tuple(h.lstrip("#") for h in args.hashtags.split(",") if h), args.region,
            when(args.start, now) or now, when(args.end, None)))
    else:
        _check_active(args.name, declared_crises(settings), now)
        command = CrisisCommand(CommandAction.END,
                                DeclaredCrisis(args.name, end=when(args.end, now)))
    send_crisis_command(settings, command)
    print(f"{args.action}: {args.name}")
    return 0


def _check_active(name: str, declared: Sequence[DeclaredCrisis], now: float) -> None:
    """`crisis end NAME` needs NAME declared and not ended (as `crisis list` folds the
    control topic). Why: ending a name never declared is a no-op every worker ignores, and
    ending an ended crisis again would move its end to now, reopening it in between."""
    from streams.wire import format_rfc3339

    crisis = next((c for c in declared if c.name == name), None)
    if crisis is None:
        known = ", ".join(repr(c.name) for c in declared) or "none"
        raise InputError(f"crisis end: no crisis named {name!r} was declared "
                         f"(declared: {known}). Fix: use a name from brandpulse crisis "
                         "list (names are case-sensitive)")
    if crisis.end is not None and crisis.end <= now:
        raise InputError(f"crisis end: {name!r} already ended at {format_rfc3339(crisis.end)}"
                         ". Fix: nothing to end (brandpulse crisis list shows the ongoing "
                         "ones)")


def _detected_lines(workers: Sequence[str]) -> str:
    """The detected crises of these workers, one line each: what it is called, its state
    and what its audience says about it (the global scope, shared, is listed once)."""
    from streams.commands.check_client import detected_crises

    seen: set[str] = set()
    lines: list[str] = []
    for url in workers:
        for crisis in detected_crises(url.strip()):
            if crisis["scope"] in seen:
                continue
            seen.add(crisis["scope"])
            # the title names it and its terms: "audience crisis on acme since 14:05 UTC:
            # #sandy, hurricane, jersey"
            lines.append(crisis["title"] + ("" if crisis["terms"] else ": no terms learned"))
    return "\n".join(lines) if lines else "no detected crisis"

