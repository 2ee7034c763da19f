"""`brandpulse check`: the pre-publish check of a draft, against a worker or offline; its
arguments beside its handler. Exits 0 ok, 4 hold, 5 block (2 stays a usage error)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streams.cli.common import InputError
from streams.config import ConfigError


def add_check_arguments(check: argparse.ArgumentParser) -> None:
    check.add_argument("text", help="the draft's text")
    check.add_argument("--brand", required=True, help="the brand that would publish it")
    check.add_argument("--at", help="RFC 3339 scheduled time (default: now)")
    check.add_argument("--platform", help="platform it goes out on")
    check.add_argument("--in-reply-to", dest="in_reply_to", help="id it answers (a reply)")
    check.add_argument("--url", default="http://127.0.0.1:9100/api/check",
                       help="the worker's check route (token from BRANDPULSE_CHECK_TOKEN)")
    check.add_argument("--offline", metavar="FILE",
                       help="no worker: replay this JSONL/TWCS file and check against it")
    check.add_argument("--brands", help="brands TOML for --offline (else from the file)")
    check.add_argument("--crisis", help="--offline: a crisis declared over the whole file")
    check.add_argument("--keywords", default="", help="its comma-separated keywords")
    check.add_argument("--hashtags", default="", help="its comma-separated hashtags")
    check.add_argument("--json", action="store_true", help="the full JSON answer")


CHECK_EXIT = {"ok": 0, "hold": 4, "block": 5}  # 2 stays "usage or configuration error"
#: The check route's field names, as the flags a `brandpulse check` user typed.
_CHECK_FLAGS = {"field 'at'": "--at", "field 'platform'": "--platform",
                "field 'in_reply_to'": "--in-reply-to", "field 'brand'": "--brand",
                "field 'text'": "the draft", "field 'hashtags'": "--hashtags"}


def _as_flags(error: str) -> str:
    """A worker's error in the user's words: `--at`, not "field 'at'" or an HTTP code."""
    for field_name, flag in _CHECK_FLAGS.items():
        error = error.replace(field_name, flag)
    return error


def cmd_check(args: argparse.Namespace) -> int:
    """POST the draft to a worker's /api/check, or check it offline against a file replayed
    through the engine; prints the verdict and its reasons, exits 0 ok, 4 hold, 5 block."""
    import os
    import time

    import orjson

    from streams.commands.check_client import check_offline, post_check
    from streams.core.text import clean
    from streams.plumbing.web import CHECK_TOKEN_ENV
    from streams.wire import format_rfc3339

    if not clean(args.text).strip():
        raise InputError("check: the draft is empty. Fix: pass the text to check, e.g. "
                         "brandpulse check --brand acme \"Our stores open at 9\"")
    # Judged now unless scheduled: a crisis declared a minute ago applies.
    body: dict[str, Any] = {"brand": args.brand, "text": args.text,
                            "at": args.at or format_rfc3339(time.time())}
    for name in ("platform", "in_reply_to"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    if args.offline:
        status, answer = check_offline(args.offline, body, time.time(), args.brands,
                                       args.crisis, args.keywords, args.hashtags)
    else:
        token = os.environ.get(CHECK_TOKEN_ENV)
        if not token:
            raise ConfigError(f"check: no token. Fix: export {CHECK_TOKEN_ENV} (the worker's), "
                              "or check offline with --offline FILE")
        status, answer = post_check(args.url, token, body)
    if status != 200:
        fix = (f". Fix: export {CHECK_TOKEN_ENV} as the worker's (the demo prints it)"
               if status == 401 else "")
        raise InputError("check: " + _as_flags(str(answer.get("error", answer))) + fix)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(answer["summary"])
        for reason in answer["reasons"]:
            print(f"  [{reason['verdict']}] {reason['reason']}: {reason['message']}")
    return CHECK_EXIT[answer["verdict"]]

