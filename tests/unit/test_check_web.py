"""POST /api/check on the worker's HTTP server and `brandpulse check`: bearer token, JSON in
and out, bounded body, one-line CLI errors, exit codes, the offline mode."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.cli import main
from streams.core.check import CrisisContext
from streams.core.crisis import DeclaredCrisis
from streams.events import Side, SocialEvent
from streams.plumbing.web import CHECK_TOKEN_ENV, MAX_CHECK_BODY, WebServer
from streams.sources.jsonl import write_jsonl
from streams.worker.api import check_answer
from tests.unit.test_behaviour import BRANDS, T0
from tests.unit.test_web import request, serve  # noqa: F401 (the fixture)

TOKEN = "s3cret-token"
SANDY = DeclaredCrisis("Hurricane Sandy", ("hurricane", "sandy"), ("sandy",), None, T0)


def checker(body: Any) -> tuple[int, dict[str, Any]]:
    # The worker's wall clock is real time: `brandpulse check` sends `at` = now by default.
    return check_answer(body, BRANDS, CrisisContext((SANDY,), now=T0 + 60), {}, time.time())


def post_check(server: WebServer, body: bytes, token: str | None = TOKEN,
               content_type: str = "application/json") -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, _, data = request(server, "POST", "/api/check", body, headers)
    return status, orjson.loads(data)


DRAFT = orjson.dumps({"brand": "apparel", "text": "Bored by the hurricane? 20% off, shop now"})


def test_a_draft_gets_its_verdict(serve: Callable[..., WebServer]) -> None:  # noqa: F811
    server = serve(check=checker, check_token=TOKEN)
    status, body = post_check(server, DRAFT)
    assert status == 200
    assert body["verdict"] == "block" and body["reasons"][0]["crisis"] == "Hurricane Sandy"
    assert "20% off" in body["cues"]["promo_words"]


def test_no_token_configured_disables_the_route(serve: Callable[..., WebServer],  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CHECK_TOKEN_ENV, raising=False)
    server = serve(check=checker)
    status, body = post_check(server, DRAFT)
    assert status == 503 and CHECK_TOKEN_ENV in body["error"]


def test_the_token_comes_from_the_environment(serve: Callable[..., WebServer],  # noqa: F811
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHECK_TOKEN_ENV, TOKEN)
    server = serve(check=checker)
    assert post_check(server, DRAFT)[0] == 200


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", ""])
def test_a_missing_or_wrong_token_is_401(serve: Callable[..., WebServer],  # noqa: F811
                                         token: str | None) -> None:
    server = serve(check=checker, check_token=TOKEN)
    status, body = post_check(server, DRAFT, token)
    assert status == 401 and "token" in body["error"]


@pytest.mark.parametrize(("data", "content_type", "status", "words"), [
    (b"{not json", "application/json", 400, "bad JSON"),
    (b"", "application/json", 400, "bad JSON"),
    (b"[]", "application/json", 400, "JSON object"),
    (DRAFT, "text/plain", 415, "application/json"),
    (orjson.dumps({"brand": "nobody", "text": "x"}), "application/json", 404, "brands file"),
])
def test_bad_bodies_say_why(serve: Callable[..., WebServer], data: bytes,  # noqa: F811
                            content_type: str, status: int, words: str) -> None:
    server = serve(check=checker, check_token=TOKEN)
    got, body = post_check(server, data, content_type=content_type)
    assert got == status and words in body["error"]


def test_the_body_is_bounded(serve: Callable[..., WebServer]) -> None:  # noqa: F811
    server = serve(check=checker, check_token=TOKEN)
    status, body = post_check(server, b"x" * (MAX_CHECK_BODY + 1))
    assert status == 413 and str(MAX_CHECK_BODY) in body["error"]


def test_no_check_function_no_route(serve: Callable[..., WebServer]) -> None:  # noqa: F811
    server = serve()
    assert request(server, "POST", "/api/check", DRAFT)[0] == 404


def test_cli_check_against_a_worker(serve: Callable[..., WebServer],  # noqa: F811
                                    monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    server = serve(check=checker, check_token=TOKEN)
    url = f"http://127.0.0.1:{server.port}/api/check"
    monkeypatch.setenv(CHECK_TOKEN_ENV, TOKEN)
    assert main(["check", "--brand", "apparel", "--url", url,
                 "Bored by the hurricane? 20% off, shop now"]) == 5
    out = capsys.readouterr().out
    assert out.startswith("block: ") and "Hurricane Sandy" in out
    assert main(["check", "--brand", "apparel", "--url", url, "Our stores open at 9"]) == 0
    assert main(["check", "--brand", "nobody", "--url", url, "x"]) == 2
    assert "brands file" in capsys.readouterr().err
    monkeypatch.setenv(CHECK_TOKEN_ENV, "wrong")
    assert main(["check", "--brand", "apparel", "--url", url, "x"]) == 2
    err = capsys.readouterr().err
    assert "bearer token" in err and CHECK_TOKEN_ENV in err and "401" not in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.delenv(CHECK_TOKEN_ENV)
    assert main(["check", "--brand", "apparel", "--url", url, "x"]) == 2
    assert CHECK_TOKEN_ENV in capsys.readouterr().err


def test_cli_check_offline_replays_a_file(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    events = [SocialEvent(Side.AUDIENCE, f"m{i}", "acme", "twitter", "someone",
                          "@acme my order is late", T0 + i * 60) for i in range(10)]
    path = tmp_path / "recent.jsonl"
    write_jsonl(events, path)
    assert main(["check", "--brand", "acme", "--offline", str(path), "--crisis", "Storm",
                 "--keywords", "storm", "--json", "Storm sale! 30% off"]) == 5
    body = orjson.loads(capsys.readouterr().out)
    assert body["verdict"] == "block" and body["complete"] is True
    assert body["reasons"][0]["reason"] == "hashtag_hijack"
    assert main(["check", "--brand", "acme", "--offline", str(path), "Hello"]) == 0
