"""What a detected crisis is about, as the worker's API and `brandpulse crisis list` show it:
the brand's own crisis in /api/brands/NAME, all of a worker's in /api/brands, and the
command line asking one or more workers (or saying in one line that it did not)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from streams import cli
from streams.cli import common
from streams.core.behaviour import SentimentContext
from streams.core.conversation import ConversationSnapshot, Window
from streams.core.crisis import DeclaredCrisis
from streams.core.crisis_content import CrisisAbout
from streams.core.crisis_detector import CrisisStatus
from streams.engine import BrandSnapshot, GlobalCrisis
from streams.worker.api import ApiViews
from tests.unit.test_metrics import snapshot as metrics_snapshot

SINCE = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
ABOUT = CrisisAbout(hashtags=("sandy",), hazards=("hurricane",), places=("jersey",))


def snapshot(name: str) -> BrandSnapshot:
    """test_metrics' hand-built snapshot, its keys the enums a worker's snapshot has."""
    base = metrics_snapshot(name)
    conversation = ConversationSnapshot(
        {Window(k): v for k, v in base.conversation.broadcast_ratio.items()},
        {Window(k): v for k, v in base.conversation.reply_rate.items()}, math.nan)
    behaviour = replace(base.behaviour, sentiment={
        SentimentContext(k): v for k, v in base.behaviour.sentiment.items()})
    return replace(base, conversation=conversation, behaviour=behaviour)


def in_crisis(name: str, state: str, about: CrisisAbout = ABOUT) -> BrandSnapshot:
    base = snapshot(name)
    return replace(base, behaviour=replace(
        base.behaviour, crisis_active=state == "active", crisis_state=state,
        crisis_about=about, crisis_since=SINCE if state == "active" else None))


def global_scope(active: bool) -> GlobalCrisis:
    status = CrisisStatus(active, 0.3, 200, 5.0, 2.0, True, -0.4, 0.0, True, 3,
                          SINCE + 60 if active else None)
    return GlobalCrisis(active, status, 1, (DeclaredCrisis("Storm", start=SINCE),))


def views(active_global: bool = True) -> ApiViews:
    api = ApiViews()
    api.update([in_crisis("acme", "active"), in_crisis("globex", "emerging"),
                snapshot("calmco")])
    api.set_crisis(global_scope(active_global))
    return api


def test_a_brand_view_says_what_its_own_crisis_is_about() -> None:
    api = views()
    assert api.get("/api/brands/acme")["crisis"] == {  # type: ignore[index]
        "state": "active", "since": SINCE,
        "title": "audience crisis on acme since 2023-11-14 22:13 UTC: #sandy, hurricane, jersey",
        "terms": ["#sandy", "hurricane", "jersey"], "hashtags": ["#sandy"],
        "hazards": ["hurricane"], "places": ["jersey"]}
    assert api.get("/api/brands/calmco")["crisis"] == {  # type: ignore[index]
        "state": None, "since": None, "title": None, "terms": [], "hashtags": [],
        "hazards": [], "places": []}
    # nothing learned yet: the crisis words among the top audience terms ("storm")
    api.update([in_crisis("acme", "active", CrisisAbout())])
    assert api.get("/api/brands/acme")["crisis"]["terms"] == ["storm"]  # type: ignore[index]


def test_a_brand_view_gives_its_event_time_in_rfc3339_as_the_check_does() -> None:
    """/api/brands/NAME gave `event_time` as an epoch float while the check speaks RFC 3339."""
    api = ApiViews()
    api.update([replace(snapshot("acme"), now=SINCE + 0.25), replace(snapshot("calmco"),
                                                                      now=-math.inf)])
    assert api.get("/api/brands/acme")["event_time"] == "2023-11-14T22:13:20.250Z"  # type: ignore[index]
    assert api.get("/api/brands/calmco")["event_time"] is None  # type: ignore[index]


def test_the_brands_route_lists_the_brands_own_crises_in_one_request() -> None:
    answer = views().get("/api/brands")
    assert answer is not None
    assert answer["brands"] == ["acme", "calmco", "globex"]
    assert [(c["brand"], c["state"], c["terms"]) for c in answer["crises"]] == [
        ("acme", "active", ["#sandy", "hurricane", "jersey"]),
        ("globex", "emerging", ["#sandy", "hurricane", "jersey"])]
    assert answer["crises"][1]["title"] == (
        "audience crisis emerging on globex: #sandy, hurricane, jersey")


@pytest.fixture
def worker() -> Iterator[tuple[str, list[ApiViews]]]:
    """A worker's /api routes on a free port: yields its URL and [views] (replace them to
    change what it answers)."""
    current = [views()]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = current[0].get(self.path)
            data = orjson.dumps(body)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", current
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """`crisis list` with one declared crisis on the control topic, no broker needed."""
    import streams.commands.control

    monkeypatch.setenv("BRANDPULSE_INTERNAL_KEY", "k" * 32)
    monkeypatch.delenv(cli.WORKER_URL_ENV, raising=False)
    monkeypatch.setattr(common, "check_broker", lambda *a, **k: None)
    monkeypatch.setattr(streams.commands.control, "declared_crises", lambda *a, **k: [
        DeclaredCrisis("Storm", ("storm",), ("stormalma",), None, SINCE)])


DECLARED_LINE = ("Storm: since 2023-11-14T22:13:20.000Z, ongoing; keywords=['storm'] "
                 "hashtags=['stormalma']")


def test_crisis_list_without_a_worker_lists_declared_crises_and_says_so(
        declared: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["crisis", "list"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [DECLARED_LINE]
    assert err.splitlines() == [
        "declared crises only: pass --worker URL (or set BRANDPULSE_WORKER_URL) to list the "
        "detected ones too"]


def test_crisis_list_with_workers_adds_their_detected_crises_and_what_they_are_about(
        declared: None, worker: tuple[str, list[ApiViews]],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    url, current = worker
    expected = [
        DECLARED_LINE,
        "audience crisis across brands since 2023-11-14 22:14 UTC: no terms learned",
        "audience crisis on acme since 2023-11-14 22:13 UTC: #sandy, hurricane, jersey",
        "audience crisis emerging on globex: #sandy, hurricane, jersey",
    ]
    # the same worker twice: the shared global scope and each brand are listed once
    assert cli.main(["crisis", "list", "--worker", url, "--worker", url + "/"]) == 0
    out, err = capsys.readouterr()
    assert (out.splitlines(), err) == (expected, "")
    monkeypatch.setenv(cli.WORKER_URL_ENV, url)  # the variable instead of the flag
    assert cli.main(["crisis", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    current[0] = views(active_global=False)
    current[0].update([snapshot("acme"), snapshot("globex")])  # their crises are over
    assert cli.main(["crisis", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [DECLARED_LINE, "no detected crisis"]


def test_crisis_list_with_an_unreachable_worker_fails_in_one_line(
        declared: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["crisis", "list", "--worker", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "crisis list: cannot read http://127.0.0.1:1/api/crisis" in err
    assert "Fix:" in err
