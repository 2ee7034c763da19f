"""Macro-F1 and throughput of brandpulse sentiment on the shared evaluation sets.

Usage: python bench/eval_sentiment.py [--tune-only] [--errors N] [--model DIR] [DATA_DIR]
       (default DATA_DIR /work/shared/data/sentiment)

``--tune-only`` prints the tune-half figures only (no held-out, whole-file or split figure,
all of which contain held-out rows), for iterating without seeing the held-out half;
``--errors N`` also prints up to N misclassified tune-half rows per file (never held-out);
``--model DIR`` also scores a model directory the user supplies on the same halves (needs
`pip install 'brandpulse[ml]'`).

Each dev file is split in two halves by a stable hash of the text (`half_of`): "tune" is
the half any future tuning may look at; "held-out" is only scored and reported. Figures
are printed for both halves and the whole file, each with its file named.

The evaluation files are read by path and never copied into the project; when they are
absent the script says so and exits 0. Three classes with the ±0.05 thresholds.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.core.lang import detect_lang  # noqa: E402
from streams.core.sentiment import polarity, polarity_doc, sentiment_label  # noqa: E402
from streams.core.text import prepare  # noqa: E402

DEFAULT_DIR = Path("/work/shared/data/sentiment")
SETS = (
    ("en_semeval2017_dev.csv", "en"),
    ("en_airline_brands_dev.csv", "en"),
    ("fr_deft2017_dev.csv", "fr"),
)
CLASSES = ("positive", "negative", "neutral")


def half_of(text: str) -> str:
    """"tune" or "held-out": deterministic 50/50 split on blake2b of the text."""
    return "tune" if hashlib.blake2b(text.encode(), digest_size=1).digest()[0] & 1 else "held-out"


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    """Unweighted mean of per-class F1 over the three classes."""
    scores = []
    for cls in CLASSES:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == cls and p == cls)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if g != cls and p == cls)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g == cls and p != cls)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0)
    return sum(scores) / len(scores)


def _throughput(texts: list[str], repeat: int = 5) -> float:
    """Messages/s of the full sentiment path (tokenise + detect language + score)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            polarity(text)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def tune_errors(path: Path, limit: int) -> list[tuple[str, str, float, str]]:
    """Misclassified tune-half rows (gold, predicted, score, text); never held-out rows."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if half_of(r["text"]) == "tune"]
    out = []
    for row in rows:
        score = polarity(row["text"])
        label = sentiment_label(score)
        if label != row["label"] and len(out) < limit:
            out.append((row["label"], label, score, row["text"]))
    return out


def _tune_f1(path: Path) -> float:
    """Macro-F1 of the tune half alone (language auto-detected, as in `evaluate`)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if half_of(r["text"]) == "tune"]
    predicted = [sentiment_label(polarity(r["text"])) for r in rows]
    return macro_f1([r["label"] for r in rows], predicted)


def evaluate(path: Path, lang: str) -> dict[str, object]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
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


def evaluate_model(path: Path, model: Any, batch_size: int = 32) -> dict[str, float]:
    """Macro-F1 of a user's model (its most probable class) on each half, and msgs/s."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
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


def _model(directory: str | None) -> Any:
    if directory is None:
        return None
    from streams.ml import ModelError, load_model

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
    args = parser.parse_args(argv[1:])
    data_dir, model = args.data_dir, _model(args.model)
    tune_only, errors = args.tune_only, args.errors
    found = False
    for name, lang in SETS:
        path = data_dir / name
        if not path.exists():
            print(f"{name}: absent, skipped")
            continue
        found = True
        if tune_only or errors:
            print(f"{name}: tune half macro-F1={_tune_f1(path):.4f}")
            for gold, label, score, text in tune_errors(path, errors):
                print(f"  gold={gold:8s} pred={label:8s} {score:+.2f} {text!r}")
            continue
        res = evaluate(path, lang)
        extra = " ".join(f"{k}={v:.3f}" for k, v in res.items() if k.startswith("macro_f1["))
        print(f"{name}: tune half ({res['rows[tune]']} rows) macro-F1="
              f"{res['macro_f1[tune]']:.3f}; HELD-OUT half ({res['rows[held-out]']} rows) "
              f"macro-F1={res['macro_f1[held-out]']:.3f}")
        print(
            f"{name:28s} rows={res['rows']:5d} macro-F1={res['macro_f1']:.3f} "
            f"(lang forced {res['macro_f1_forced_lang']:.3f}) "
            f"lang-acc={res['lang_accuracy']:.3f} {res['msgs_per_s']:,.0f} msg/s {extra}"
        )
        print(f"    predicted classes: {res['predicted']}")
        if model is not None:
            scored = evaluate_model(path, model)
            print(f"    model {args.model}: tune half macro-F1={scored['macro_f1[tune]']:.3f}; "
                  f"HELD-OUT half macro-F1={scored['macro_f1[held-out]']:.3f}; whole "
                  f"{scored['macro_f1']:.3f}; {scored['msgs_per_s']:,.0f} msg/s (batch 32)")
    if not found:
        print(f"no evaluation files under {data_dir}; nothing to do")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
