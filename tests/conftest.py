"""Under CI=true a skipped test is a failed test: a missing tool must fail the run."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings


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
