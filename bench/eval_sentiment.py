"""Macro-F1 and throughput of brandpulse sentiment on the evaluation sets.

Usage: python bench/eval_sentiment.py [--tune-only] [--errors N] [--lexicon] [--model DIR]
       [--mirrors DIR] [DATA_DIR]      (default DATA_DIR /work/shared/data/sentiment)
       python bench/eval_sentiment.py --cost [TWCS_CSV]

Scores `polarity` as the worker runs it: the trained model shipped in the package
(streams/core/sentiment_model.py, issue 22), or the lexicon when `--lexicon` is given or
no model loads. Sets: the SemEval-2017 and airline dev files of DATA_DIR, and the xlm-t
French test split (DEFT-2017) read from its fetched snapshot (`--mirrors`, commit pinned
in bench/_sentiment_data.py). `fr_deft2017_dev.csv` is xlm-t's French train + validation
splits, the model's French training data: its figure is printed, marked, and is not an
evaluation of the model.

``--tune-only`` prints the tune-half figures only (no held-out, whole-file or split figure,
all of which contain held-out rows), for iterating without seeing the held-out half;
``--errors N`` also prints up to N misclassified tune-half rows per file (never held-out);
``--cost`` prints what the trained model costs a worker: the time to load its file (best of
5) and the RSS it adds once the TWCS texts have gone through `polarity` (its memos full),
each measured in a fresh process against the lexicon alone.
``--model DIR`` also scores an ONNX model directory the user supplies on the same halves
(needs `pip install 'brandpulse[ml]'`).

Each set is split in two halves by a stable hash of the text (`half_of`): "tune" is the
half that choices may look at; "held-out" is only scored and reported. Figures are printed
for both halves and the whole set, each with its set named.

The evaluation files are read by path and never copied into the project; when they are
absent the script says so and exits 0. Three classes with the ±0.05 thresholds.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if str(ROOT / "bench") not in sys.path:
    sys.path.insert(0, str(ROOT / "bench"))

import _sentiment_data as data  # noqa: E402
from _sentiment_data import half_of, macro_f1  # noqa: E402

from streams.core import sentiment  # noqa: E402
from streams.core.lang import detect_lang  # noqa: E402
from streams.core.sentiment import polarity, polarity_doc, sentiment_label  # noqa: E402
from streams.core.text import prepare  # noqa: E402

__all__ = ["half_of", "macro_f1"]

DEFAULT_DIR = Path("/work/shared/data/sentiment")
XLMT_FR_TEST = "xlm-t French test (DEFT-2017)"
SETS = (
    ("en_semeval2017_dev.csv", "en"),
    ("en_airline_brands_dev.csv", "en"),
    ("fr_deft2017_dev.csv", "fr"),
    (XLMT_FR_TEST, "fr"),
)
#: Sets that are the model's own training data (figures printed, marked, not evaluations).
TRAINING_DATA = frozenset({"fr_deft2017_dev.csv"})
CLASSES = data.LABELS


def _throughput(texts: list[str], repeat: int = 5) -> float:
    """Messages/s of the full sentiment path (tokenise + detect language + score)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            polarity(text)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def load_rows(name: str, data_dir: Path, mirrors: Path) -> list[dict[str, str]] | None:
    """Rows (text, label[, split]) of one set, or None when it is absent here."""
    if name == XLMT_FR_TEST:
        try:
            return [{"text": t, "label": y} for t, y in data.xlmt_french("test", mirrors)]
        except FileNotFoundError:
            return None
    path = data_dir / name
    if not path.exists():
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def tune_errors(rows: list[dict[str, str]], limit: int) -> list[tuple[str, str, float, str]]:
    """Misclassified tune-half rows (gold, predicted, score, text); never held-out rows."""
    rows = [r for r in rows if half_of(r["text"]) == "tune"]
    out = []
    for row in rows:
        score = polarity(row["text"])
        label = sentiment_label(score)
        if label != row["label"] and len(out) < limit:
            out.append((row["label"], label, score, row["text"]))
    return out


def _tune_f1(rows: list[dict[str, str]]) -> float:
    """Macro-F1 of the tune half alone (language auto-detected, as in `evaluate`)."""
    rows = [r for r in rows if half_of(r["text"]) == "tune"]
    predicted = [sentiment_label(polarity(r["text"])) for r in rows]
    return macro_f1([r["label"] for r in rows], predicted)


def evaluate(rows: list[dict[str, str]], lang: str) -> dict[str, object]:
    texts = [r["text"] for r in rows]
    gold = [r["label"] for r in rows]
    docs = [prepare(t) for t in texts]
    detected = [detect_lang(d) for d in docs]
    auto = [sentiment_label(polarity_doc(d, g)) for d, g in zip(docs, detected, strict=True)]
    forced = [sentiment_label(polarity_doc(d, lang)) for d in docs]
    result: dict[str, object] = {
        "rows": len(rows),
        "macro_f1": macro_f1(gold, auto),
        "macro_f1_forced_lang": macro_f1(gold, forced),
        "lang_accuracy": sum(1 for d in detected if d == lang) / max(1, len(rows)),
        "predicted": dict(Counter(auto)),
        "msgs_per_s": _throughput(texts),
    }
    for half in ("tune", "held-out"):
        idx = [i for i, t in enumerate(texts) if half_of(t) == half]
        result[f"macro_f1[{half}]"] = macro_f1([gold[i] for i in idx], [auto[i] for i in idx])
        result[f"rows[{half}]"] = len(idx)
    if rows and "split" in rows[0]:
        for split in sorted({r["split"] for r in rows}):
            idx = [i for i, r in enumerate(rows) if r["split"] == split]
            result[f"macro_f1[{split}]"] = macro_f1([gold[i] for i in idx], [auto[i] for i in idx])
    return result


def evaluate_model(rows: list[dict[str, str]], model: Any, batch_size: int = 32
                   ) -> dict[str, float]:
    """Macro-F1 of a user's model (its most probable class) on each half, and msgs/s."""
    texts = [r["text"] for r in rows]
    gold = [r["label"] for r in rows]
    start = time.perf_counter()
    predicted = model.predict_labels(texts, batch_size=batch_size)
    elapsed = time.perf_counter() - start
    result = {"macro_f1": macro_f1(gold, predicted),
              "msgs_per_s": len(texts) / elapsed if elapsed > 0 else 0.0}
    for half in ("tune", "held-out"):
        idx = [i for i, t in enumerate(texts) if half_of(t) == half]
        result[f"macro_f1[{half}]"] = macro_f1([gold[i] for i in idx],
                                               [predicted[i] for i in idx])
    return result


_COST_CHILD = """
import csv, sys, time
from streams.core import sentiment, sentiment_model
from streams.core.text import prepare
from streams.core.lang import detect_lang
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
texts = [r["text"] for r in csv.DictReader(open(sys.argv[1], encoding="utf-8"))]
before = rss()
loads = []
for _ in range(5):
    start = time.perf_counter()
    models = sentiment_model.load() if sys.argv[2] == "model" else None
    loads.append(time.perf_counter() - start)
sentiment.set_model(models)
for text in texts:
    doc = prepare(text)
    lang = detect_lang(doc)
    if lang != "other":
        sentiment.polarity_doc(doc, lang)
print(min(loads), rss() - before)
"""


def cost(twcs: Path) -> int:
    """Load time and added RSS of the model against the lexicon, fresh processes."""
    import os
    import subprocess

    env = {**os.environ, "BRANDPULSE_SENTIMENT_MODEL": "lexicon",
           "PYTHONPATH": str(ROOT)}
    results = {}
    for mode in ("lexicon", "model"):
        out = subprocess.run([sys.executable, "-c", _COST_CHILD, str(twcs), mode], env=env,
                             capture_output=True, text=True, check=True).stdout.split()
        results[mode] = (float(out[0]), float(out[1]))
    print(f"model file load: {results['model'][0] * 1000:.0f} ms (best of 5)")
    print(f"RSS after {twcs.name} through polarity: lexicon +{results['lexicon'][1]:.1f} MB, "
          f"model +{results['model'][1]:.1f} MB: the model adds "
          f"{results['model'][1] - results['lexicon'][1]:.1f} MB")
    return 0


def _model(directory: str | None) -> Any:
    if directory is None:
        return None
    from streams.commands.ml import ModelError, load_model

    try:
        return load_model(directory)
    except ModelError as exc:
        print(f"eval_sentiment: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="eval_sentiment.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--tune-only", action="store_true",
                        help="print tune-half figures only (never a held-out row)")
    parser.add_argument("--errors", type=int, default=0, metavar="N",
                        help="also print up to N misclassified tune-half rows per file")
    parser.add_argument("--model", metavar="DIR",
                        help="also score this model directory (model.onnx, tokenizer.json, "
                             "brandpulse-model.toml or labels.json)")
    parser.add_argument("--lexicon", action="store_true",
                        help="score the lexicon alone (no trained model)")
    parser.add_argument("--mirrors", type=Path, default=data.MIRRORS,
                        help="where the fetched snapshots are (xlm-t for the French test)")
    parser.add_argument("--cost", action="store_true",
                        help="load time and RSS of the trained model (DATA_DIR: a TWCS csv)")
    args = parser.parse_args(argv[1:])
    if args.cost:
        twcs = (args.data_dir if args.data_dir.suffix == ".csv"
                else DEFAULT_DIR.parent / "twcs" / "twcs_5k.csv")
        return cost(twcs)
    data_dir, model = args.data_dir, _model(args.model)
    tune_only, errors = args.tune_only, args.errors
    if args.lexicon:
        sentiment.set_model(None)
    scorer = "lexicon" if sentiment.active_model() is None else "trained model"
    print(f"scoring with the {scorer}")
    found = False
    for name, lang in SETS:
        rows = load_rows(name, data_dir, args.mirrors)
        if rows is None:
            print(f"{name}: absent, skipped")
            continue
        found = True
        note = (" [the model's training data: not an evaluation]"
                if name in TRAINING_DATA and scorer != "lexicon" else "")
        if tune_only or errors:
            print(f"{name}: tune half macro-F1={_tune_f1(rows):.4f}{note}")
            for gold, label, score, text in tune_errors(rows, errors):
                print(f"  gold={gold:8s} pred={label:8s} {score:+.2f} {text!r}")
            continue
        res = evaluate(rows, lang)
        extra = " ".join(f"{k}={v:.3f}" for k, v in res.items() if k.startswith("macro_f1["))
        print(f"{name}: tune half ({res['rows[tune]']} rows) macro-F1="
              f"{res['macro_f1[tune]']:.4f}; HELD-OUT half ({res['rows[held-out]']} rows) "
              f"macro-F1={res['macro_f1[held-out]']:.4f}{note}")
        print(
            f"    rows={res['rows']:5d} macro-F1={res['macro_f1']:.3f} "
            f"(lang forced {res['macro_f1_forced_lang']:.3f}) "
            f"lang-acc={res['lang_accuracy']:.3f} {res['msgs_per_s']:,.0f} msg/s {extra}"
        )
        print(f"    predicted classes: {res['predicted']}")
        if model is not None:
            scored = evaluate_model(rows, model)
            print(f"    model {args.model}: tune half macro-F1={scored['macro_f1[tune]']:.3f}; "
                  f"HELD-OUT half macro-F1={scored['macro_f1[held-out]']:.3f}; whole "
                  f"{scored['macro_f1']:.3f}; {scored['msgs_per_s']:,.0f} msg/s (batch 32)")
    if not found:
        print(f"no evaluation files under {data_dir}; nothing to do")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
