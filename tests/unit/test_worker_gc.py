"""The worker's collector settings (streams.worker.agents.tune_garbage_collector), in a child
process so that this test run's own collector stays as it is."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import gc
from streams.worker.agents import GC_THRESHOLDS, tune_garbage_collector
before = gc.get_threshold()
tune_garbage_collector()
assert gc.get_threshold() == GC_THRESHOLDS != before, (before, gc.get_threshold())
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()  # what the imports made
cycle = []
cycle.append(cycle)  # garbage made after start-up is still collected
del cycle
assert gc.collect() >= 1
print("ok")
"""


def test_tuning_freezes_start_up_objects_and_raises_thresholds() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
