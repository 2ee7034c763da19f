"""Issue 21 targets on real tone-deaf brand posts replayed against real crisis streams of
the same kind (bench/eval_tone.py: cases, sources, split, replay). The held-out situations
were not looked at while the rules were chosen; the data lives in ../shared/data (a skip,
a failure under CI=true, when absent)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import eval_tone


def test_the_evidence_set_is_large_enough_and_split_by_situation() -> None:
    assert len(eval_tone.TONE_DEAF) >= 20 and len(eval_tone.SUPPORTIVE) >= 20
    assert all(case.source.split(": ")[-1].startswith("http") or "written" in case.source
               for case in eval_tone.TONE_DEAF + eval_tone.SUPPORTIVE)
    assert all(case.source.startswith("http") for case in eval_tone.TONE_DEAF)
    dev = {c.situation for c in eval_tone.split(eval_tone.TONE_DEAF, held_out=False)}
    held = {c.situation for c in eval_tone.split(eval_tone.TONE_DEAF, held_out=True)}
    assert dev and held and not dev & held


def test_held_out_tone_deaf_drafts_are_held_and_supportive_ones_pass(
        shared_data: Path) -> None:
    bad = eval_tone.verdicts(shared_data, eval_tone.split(eval_tone.TONE_DEAF, True))
    good = eval_tone.verdicts(shared_data, eval_tone.split(eval_tone.SUPPORTIVE, True))
    caught = [c.brand for c, a in bad if a["verdict"] != "ok"]
    assert len(caught) >= 0.9 * len(bad), [c.brand for c, a in bad if a["verdict"] == "ok"]
    assert [c.brand for c, a in good if a["verdict"] != "ok"] == []
    # The crisis is named by what its audience says, not by a generic label.
    assert all("since" in a["summary"] and ": #" in a["summary"] for _, a in bad + good)
