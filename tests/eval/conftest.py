"""The shared evaluation data (never copied into the project): ../shared/data beside the
repository (CI's layout), else /work/shared/data. Absent: the test is skipped, which
fails the run under CI=true (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

_CANDIDATES = (Path(__file__).resolve().parents[2].parent / "shared" / "data",
               Path("/work/shared/data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    for path in _CANDIDATES:
        if path.is_dir():
            return path
    pytest.skip("shared evaluation data absent (../shared/data)")
