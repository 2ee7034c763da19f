"""Issue 13 targets on data the analysis was not built on (see docs/analysis.md).

* Crisis signal, English: recall >= 0.60 on the CrisisLexT6 events held out of the
  vocabulary work (bench/eval_crisis.py HELD_OUT_EVENTS), false positives <= 0.5 % of
  ordinary customer-support tweets (TWCS).
* Crisis signal, French: recall >= 0.50 on the self-written French evaluation sentences
  (tests/eval/data/crisis_fr_eval.tsv, not real tweets) with no false positive there.
  The real-tweet French figure (CrisisLexT26 Lac-Megantic) needs data outside shared/ and
  is reported by bench/eval_crisis.py only.
* Stream-adaptive crisis signal (streams/core/crisis_expansion.py, parameters fixed on dev
  streams only): each held-out T6 event read as one stream in time order keeps recall
  >= 0.80 (measured 0.842, static 0.810) with false positives <= 5 %; read as streams,
  TWCS (time order) and DEFT (one instant) get no promoted hashtag: not one message more
  than the static signal. The T26 figures (Lac-Megantic French 0.525) need data outside
  shared/ and are reported by bench/eval_crisis.py only.
* Sentiment: the held-out half of each dev file (hash split, bench/eval_sentiment.py)
  stays at or above the floors: the trained model (issue 22) in English, the lexicon on
  the French dev file (the model's training data), just under the measured figures.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from streams.core.lang import detect_lang
from streams.core.sentiment import active_model, polarity, sentiment_label, set_model

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


def test_stream_adaptive_crisis_signal_on_held_out_event_streams(shared_data: Path) -> None:
    rows = eval_crisis.load_t6(shared_data / "crisis" / "crisislex_t6_dev.csv")
    assert {e for e, _, _ in rows} >= set(eval_crisis.HELD_OUT_EVENTS)
    with (shared_data / "crisis" / "crisislex_t6_dev.csv").open(encoding="utf-8") as handle:
        t6 = list(csv.DictReader(handle))
    scored = []
    for event in eval_crisis.HELD_OUT_EVENTS:
        stream = sorted((eval_crisis.snowflake_seconds(r["tweet_id"]) or 0.0, r["text"],
                         r["label"] == "on-topic") for r in t6 if r["event"] == event)
        scored += eval_crisis.scored_stream(stream)
    positives = [(static, adaptive) for gold, static, adaptive in scored if gold]
    negatives = [adaptive for gold, _, adaptive in scored if not gold]
    assert len(positives) > 300 and len(negatives) > 300
    recall = sum(a for _, a in positives) / len(positives)
    assert recall >= max(0.80, sum(s for s, _ in positives) / len(positives)), recall
    assert sum(negatives) / len(negatives) <= 0.05


def test_stream_adaptive_signal_promotes_nothing_in_ordinary_streams(shared_data: Path
                                                                     ) -> None:
    twcs = [(at, text, False) for at, text in
            eval_crisis.twcs_stream(shared_data / "twcs" / "twcs_5k.csv")]
    with (shared_data / "sentiment" / "fr_deft2017_dev.csv").open(encoding="utf-8") as handle:
        deft = [(0.0, r["text"], False) for r in csv.DictReader(handle)]
    for rows in (twcs, deft):
        scored = eval_crisis.scored_stream(rows)
        assert len(scored) > 2000
        assert sum(a for _, _, a in scored) == sum(s for _, s, _ in scored)
        assert sum(a for _, _, a in scored) / len(scored) <= 0.0065


@pytest.mark.parametrize(
    ("name", "floor", "scorer"),
    # The trained model (issue 22), just under its held-out figures, scored once after
    # training (0.6159 / 0.6736; docs/analysis.md, "Trained model"). The French dev file is
    # xlm-t's French train + validation splits, the model's training data: there the floor
    # holds the lexicon, the model's fallback, just under its sixth pass (0.6215). The
    # model's French figure needs the xlm-t snapshot: bench/eval_sentiment.py only.
    [("en_semeval2017_dev.csv", 0.61, "model"), ("en_airline_brands_dev.csv", 0.67, "model"),
     ("fr_deft2017_dev.csv", 0.62, "lexicon")],
)
def test_sentiment_held_out_half(shared_data: Path, name: str, floor: float, scorer: str
                                 ) -> None:
    with (shared_data / "sentiment" / name).open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if eval_sentiment.half_of(r["text"]) == "held-out"]
    assert len(rows) > 700
    previous = set_model(None) if scorer == "lexicon" else active_model()
    try:
        assert scorer == "lexicon" or active_model() is not None
        predicted = [sentiment_label(polarity(r["text"])) for r in rows]
    finally:
        set_model(previous)
    score = eval_sentiment.macro_f1([r["label"] for r in rows], predicted)
    assert score >= floor, f"{name} ({scorer}): held-out macro-F1 {score:.3f} < {floor}"
