"""Precision / recall of the per-message crisis signal on CrisisLexT6 (on- vs off-topic).

Usage: python bench/eval_crisis.py [T6_CSV] [ORDINARY_CSV]
  T6_CSV        default /work/shared/data/crisis/crisislex_t6_dev.csv
  ORDINARY_CSV  default /work/shared/data/twcs/twcs_5k.csv (customer-care tweets, used as
                "ordinary traffic" to measure the false-positive rate)

Files are read by path, never copied; absent files are skipped and the script exits 0.
Also reports plain CrisisLex matching (any lexicon term) as the reference point.
"""

from __future__ import annotations

import csv
import itertools
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.core.crisis import crisis_match  # noqa: E402
from streams.core.text import content_tokens, prepare  # noqa: E402

DEFAULT_T6 = Path("/work/shared/data/crisis/crisislex_t6_dev.csv")
DEFAULT_ORDINARY = Path("/work/shared/data/twcs/twcs_5k.csv")
LEXICON = ROOT / "streams" / "data" / "CrisisLexRec.txt"


def _plain_crisislex() -> tuple[set[str], set[tuple[str, str]]]:
    unigrams: set[str] = set()
    bigrams: set[tuple[str, str]] = set()
    for line in LEXICON.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 1:
            unigrams.add(parts[0])
        elif len(parts) == 2:
            bigrams.add((parts[0], parts[1]))
    return unigrams, bigrams


def plain_match(text: str, unigrams: set[str], bigrams: set[tuple[str, str]]) -> bool:
    words = content_tokens(prepare(text))
    if any(w in unigrams for w in words):
        return True
    return any(pair in bigrams for pair in itertools.pairwise(words))


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(argv: list[str]) -> int:
    t6 = Path(argv[1]) if len(argv) > 1 else DEFAULT_T6
    ordinary = Path(argv[2]) if len(argv) > 2 else DEFAULT_ORDINARY
    unigrams, bigrams = _plain_crisislex()
    if t6.exists():
        with t6.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for name, predict in (
            ("brandpulse signal", lambda t: crisis_match(t).signal),
            ("plain CrisisLex", lambda t: plain_match(t, unigrams, bigrams)),
        ):
            counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
            for row in rows:
                gold = row["label"] == "on-topic"
                pred = predict(row["text"])
                for key in ("ALL", row["event"]):
                    c = counts[key]
                    if pred and gold:
                        c[0] += 1
                    elif pred:
                        c[1] += 1
                    elif gold:
                        c[2] += 1
            print(f"== {name} on {t6.name} ({len(rows)} rows)")
            for key, (tp, fp, fn) in sorted(counts.items()):
                p, r, f = _prf(tp, fp, fn)
                print(f"  {key:28s} precision={p:.3f} recall={r:.3f} F1={f:.3f}")
    else:
        print(f"{t6}: absent, skipped")
    if ordinary.exists():
        with ordinary.open(encoding="utf-8", newline="") as handle:
            texts = [r["text"] for r in csv.DictReader(handle)]
        ours = sum(1 for t in texts if crisis_match(t).signal)
        plain = sum(1 for t in texts if plain_match(t, unigrams, bigrams))
        n = max(1, len(texts))
        print(f"== false-positive rate on {ordinary.name} ({len(texts)} ordinary tweets)")
        print(f"  brandpulse signal {ours / n:.4f}   plain CrisisLex {plain / n:.4f}")
    else:
        print(f"{ordinary}: absent, skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
