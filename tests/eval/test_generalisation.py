"""Issue 13 targets on data the analysis was not built on (see docs/analysis.md).

* Crisis signal, English: recall >= 0.60 on the CrisisLexT6 events held out of the
  vocabulary work (bench/eval_crisis.py HELD_OUT_EVENTS), false positives <= 0.5 % of
  ordinary customer-support tweets (TWCS).
* Crisis signal, French: recall >= 0.50 on the self-written French evaluation sentences
  (tests/eval/data/crisis_fr_eval.tsv, not real tweets) with no false positive there.
  The real-tweet French figure (CrisisLexT26 Lac-Megantic) needs data outside shared/ and
  is reported by bench/eval_crisis.py only.
* Sentiment: the held-out half of each dev file (hash split, bench/eval_sentiment.py)
  stays at or above the floors: macro-F1 >= 0.62 in English and French (issue 13), just
  under the figures of the last tuning pass.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from streams.core.lang import detect_lang
from streams.core.sentiment import polarity, sentiment_label

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import eval_crisis
import eval_sentiment


def test_crisis_recall_on_held_out_events(shared_data: Path) -> None:
    rows = eval_crisis.load_t6(shared_data / "crisis" / "crisislex_t6_dev.csv")
    held = [(t, g) for e, t, g in rows if e in eval_crisis.HELD_OUT_EVENTS]
    assert {e for e, _, _ in rows} >= set(eval_crisis.HELD_OUT_EVENTS)
    assert not set(eval_crisis.HELD_OUT_EVENTS) & set(eval_crisis.DEV_EVENTS)
    recall, fpr, positives, _ = eval_crisis.rates(held)
    assert positives > 300
    assert recall >= 0.60, recall
    assert fpr <= 0.05, fpr


@pytest.mark.parametrize("customers_only", [True, False])
def test_crisis_false_positives_on_customer_support(shared_data: Path,
                                                    customers_only: bool) -> None:
    texts = eval_crisis.twcs_texts(shared_data / "twcs" / "twcs_5k.csv", customers_only)
    _, fpr, _, negatives = eval_crisis.rates([(t, False) for t in texts])
    assert negatives > 2000
    assert fpr <= 0.005, fpr


def test_crisis_recall_french_self_written() -> None:
    rows = eval_crisis.load_fr_eval()
    assert all(detect_lang(t) == "fr" for t, _ in rows)
    recall, fpr, positives, negatives = eval_crisis.rates(rows)
    assert positives >= 25 and negatives >= 25
    assert recall >= 0.50, recall
    assert fpr == 0.0, fpr


@pytest.mark.parametrize(
    ("name", "floor"),
    # Just under the sixth pass's held-out figures (0.6201 / 0.6476 / 0.6215).
    [("en_semeval2017_dev.csv", 0.62), ("en_airline_brands_dev.csv", 0.645),
     ("fr_deft2017_dev.csv", 0.62)],
)
def test_sentiment_held_out_half(shared_data: Path, name: str, floor: float) -> None:
    with (shared_data / "sentiment" / name).open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if eval_sentiment.half_of(r["text"]) == "held-out"]
    assert len(rows) > 700
    predicted = [sentiment_label(polarity(r["text"])) for r in rows]
    score = eval_sentiment.macro_f1([r["label"] for r in rows], predicted)
    assert score >= floor, f"{name}: held-out macro-F1 {score:.3f} < {floor}"
