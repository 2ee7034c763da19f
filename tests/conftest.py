"""Shared test fixtures.

* Under CI=true a skipped test is a failed test: a missing tool must fail the run.
* `shared_data`: the evaluation data in `../shared/data` next to the clone (never copied
  into the project), or wherever BRANDPULSE_SHARED_DATA points: the one place tests find it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "BRANDPULSE_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """The evaluation data directory: $BRANDPULSE_SHARED_DATA, else ../shared/data beside
    the clone (CI's layout), else /work/shared/data; None when none exists."""
    override = os.environ.get(SHARED_DATA_ENV)
    candidates = ([Path(override).expanduser()] if override else
                  [REPO.parent / "shared" / "data", Path("/work/shared/data")])
    return next((path for path in candidates if path.is_dir()), None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation data directory (twcs/, sentiment/, crisis/), or a skip saying where it
    was looked for (a failure under CI=true)."""
    path = shared_data_dir()
    if path is None:
        pytest.skip(f"evaluation data absent: set {SHARED_DATA_ENV}, or put it in "
                    f"{REPO.parent / 'shared' / 'data'}")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() == "true" \
            and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a missing tool fails the run): " \
                          f"{report.longrepr}"


# Speed is measured by benchmarks, never by timed assertions: no Hypothesis deadline (a
# loaded CI machine would turn it into a flake).
hypothesis_settings.register_profile("brandpulse", deadline=None)
hypothesis_settings.load_profile("brandpulse")


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Connectors started without --cursor-file keep their cursor in a temporary state
    directory (children inherit it), never in the home of whoever runs the tests."""
    monkeypatch.setenv("BRANDPULSE_STATE_DIR", str(tmp_path_factory.mktemp("state")))
