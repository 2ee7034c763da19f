"""Exact accounting through the faults a team meets every week (issue 20): SIGKILLs under
load, two workers scaled down to one, a rolling restart of two workers.

Each scenario runs once with short phases (about 3 minutes in all on 2 cores);
bench/faults.py repeats them, and runs the no-fault control (`--scenario baseline`). Per
brand, the counters on the brand's current owner must equal the ledger of what was sent
(nothing lost, nothing doubled), the backlog must be exact, no persisted counter may ever
go down between two scrapes, and a Prometheus scraping every 15 s must have seen every
event. A failure prints the per-brand table (expected/got and the difference).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.plumbing.broker import tansu_binary
from tests.integration.exact import FAULTS, FaultResult, Timing, run_scenario

pytestmark = pytest.mark.broker
#: Short phases: the restarts themselves take most of the time (a dead member holds the
#: group until its 10 s session expires).
SHORT = Timing(warmup=3.0, between=2.0, tail=3.0)


def check(result: FaultResult) -> None:
    problems = result.failures()
    assert not problems, f"{result.scenario}: {'; '.join(problems)}\n{result.table()}"


@pytest.mark.parametrize("scenario", FAULTS)
def test_faults_lose_double_and_reset_no_count(scenario: str, tmp_path: Path) -> None:
    try:
        tansu_binary()
    except RuntimeError as exc:
        pytest.skip(f"embedded broker unavailable: {exc}")  # a failure under CI=true
    check(run_scenario(scenario, SHORT, workdir=tmp_path))
