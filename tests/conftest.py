"""Shared test fixtures.

* Under CI=true a skipped test is a failed test: a missing tool must fail the run.
* `shared_data`: the evaluation data in `../shared/data` next to the clone (never copied
  into the project), or wherever BRANDPULSE_SHARED_DATA points: the one place tests find it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA_ENV = "BRANDPULSE_SHARED_DATA"


def shared_data_dir() -> Path:
    """The evaluation data directory: $BRANDPULSE_SHARED_DATA, else ../shared/data."""
    override = os.environ.get(SHARED_DATA_ENV)
    return Path(override).expanduser() if override else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Callable[[str], Path]:
    """`shared_data("twcs/twcs_5k.csv")`: that file (or directory) of the evaluation data,
    or a skip naming where it was looked for (a failure under CI=true)."""
    root = shared_data_dir()

    def find(relative: str) -> Path:
        path = root / relative
        if not path.exists():
            pytest.skip(f"evaluation data {path} absent (set {SHARED_DATA_ENV} to the "
                        "directory holding twcs/, sentiment/ and crisis/)")
        return path

    return find


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() == "true" \
            and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a missing tool fails the run): " \
                          f"{report.longrepr}"
