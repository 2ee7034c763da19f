"""The two ways `brandpulse check` gets a verdict: a worker's POST /api/check, or offline
by replaying a file through the engine (the same core check either way)."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from typing import Any

import orjson

from streams.config import ConfigError, load_brands
from streams.core.check import BrandState
from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
from streams.engine import Engine
from streams.sources.files import open_events
from streams.worker.api import check_answer


def post_check(url: str, token: str, body: dict[str, Any], timeout: float = 10.0
               ) -> tuple[int, dict[str, Any]]:
    """(status, JSON answer) of a worker's check route; ConfigError when unreachable."""
    request = urllib.request.Request(url, orjson.dumps(body), method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status), orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, orjson.loads(exc.read())
        except orjson.JSONDecodeError:
            return exc.code, {"error": str(exc.reason)}
    except (urllib.error.URLError, OSError) as exc:
        raise ConfigError(f"check: cannot reach {url} ({getattr(exc, 'reason', exc)}). Fix: "
                          "start a worker or pass --url http://HOST:PORT/api/check") from None


def _get_json(url: str, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return orjson.loads(response.read())
    except (urllib.error.URLError, OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"crisis list: cannot read {url} ({getattr(exc, 'reason', exc)}). "
                          "Fix: start the worker, or pass --worker http://HOST:PORT, its "
                          "metrics port") from None


def detected_crises(base_url: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The crises a worker detects now: the global scope (/api/crisis) and the brands it
    owns (/api/brands lists their own active or emerging crises with their learned terms),
    each as {scope, state, since, title, terms}. A worker knows only its own brands."""
    from streams.core.behaviour import GLOBAL, detected_crisis

    base = base_url.rstrip("/")
    out: list[dict[str, Any]] = []
    scope = _get_json(f"{base}/api/crisis", timeout).get("global") or {}
    if scope.get("active"):
        since = scope.get("since")
        out.append({"scope": GLOBAL, "state": "active", "since": since,
                    "title": detected_crisis(GLOBAL, since=since).title, "terms": []})
    for crisis in _get_json(f"{base}/api/brands", timeout).get("crises", ()):
        out.append({"scope": crisis["brand"], "state": crisis["state"],
                    "since": crisis.get("since"), "title": crisis["title"],
                    "terms": list(crisis.get("terms", ()))})
    return out


def replayed_engine(path: str, wall: float, brands_path: str | None = None,
                    crisis: DeclaredCrisis | None = None) -> Engine:
    """An engine fed with a JSONL or TWCS file (as `brandpulse report`), `crisis` declared
    before the first event."""
    source = open_events(path, "auto", load_brands(brands_path) if brands_path else None)
    engine = Engine(source.brands, persisted=False)
    if crisis is not None:
        engine.apply(CrisisCommand(CommandAction.DECLARE, crisis))
    for _ in engine.ingest_all(source, wall):
        pass
    return engine


def engine_answer(engine: Engine, body: dict[str, Any], wall: float
                  ) -> tuple[int, dict[str, Any]]:
    """Check a request body against an engine's current state (the engine's owner calls
    it: it takes a snapshot). Useful to a demo or a test driving an engine directly."""
    brand = body.get("brand")
    states: dict[str, BrandState] = {}
    now = engine.stream_time if math.isfinite(engine.stream_time) else wall
    config = engine.brands.get(brand) if isinstance(brand, str) else None
    if config is not None and engine.has_brand(config.name):
        now = engine.brand_now(config.name, now)
        states[config.name] = engine.brand_state(engine.snapshot(config.name, now),
                                                 config.sla_seconds)
    return check_answer(body, engine.brands, engine.crisis_context(now), states, max(now, wall))


def check_offline(path: str, body: dict[str, Any], wall: float, brands_path: str | None = None,
                  crisis: str | None = None, keywords: str = "", hashtags: str = ""
                  ) -> tuple[int, dict[str, Any]]:
    """Replay `path`, optionally with a crisis declared over all of it, then check."""
    declared = None if not crisis else DeclaredCrisis(
        crisis, tuple(k for k in keywords.split(",") if k),
        tuple(h.lstrip("#") for h in hashtags.split(",") if h))
    return engine_answer(replayed_engine(path, wall, brands_path, declared), body, wall)
