from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.config import settings_from
from streams.plumbing.broker import EmbeddedBroker, create_topics, tansu_binary

from .harness import INTERNAL_KEY

BRANDS_TOML = """
[defaults]
sla_seconds = 3600

[[brand]]
name = "acme"
handles = { twitter = ["AcmeSupport"] }

[[brand]]
name = "globex"
handles = { twitter = ["Globex"] }

[[brand]]
name = "initech"
handles = { twitter = ["Initech"] }

[[brand]]
name = "umbrella"
handles = { twitter = ["Umbrella"] }
"""


@pytest.fixture(autouse=True)
def internal_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """The key the harness's workers sign and verify with, for in-process producers
    (`send_crisis_command`) and `brandpulse` subprocesses alike."""
    monkeypatch.setenv("BRANDPULSE_INTERNAL_KEY", INTERNAL_KEY)
    return INTERNAL_KEY


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    try:
        tansu_binary()
    except RuntimeError as exc:
        pytest.skip(f"embedded broker unavailable: {exc}")
    with EmbeddedBroker(log_path=str(tmp_path / "tansu.log")) as running:
        create_topics(settings_from(broker=running.url))
        yield running


@pytest.fixture
def brands_file(tmp_path: Path) -> Path:
    path = tmp_path / "brands.toml"
    path.write_text(BRANDS_TOML)
    return path


@pytest.fixture
def app_id() -> str:
    return f"brandpulse-test-{uuid.uuid4().hex[:8]}"
