"""Accuracy and cost of brandpulse language identification against maintained libraries.

Usage: python bench/eval_lang.py [--libs] [SHARED_DATA_DIR] [T26_DIR]
  SHARED_DATA_DIR default ../shared/data beside the repository (else /work/shared/data)
  T26_DIR         CrisisLexT26 "*-tweets_labeled.csv" files (default /work/shared-extra/
                  crisislex_t26); evaluation only, never copied into the project

Data sources, each named in the output:
* tests/data/lang_samples.tsv: hand-written en / fr / other / und messages (gold labels);
* the sentiment dev files: every row is English (SemEval, airline) or French (DEFT) by file;
* CrisisLexT26 tweets (many Spanish, Italian, Portuguese, Tagalog): no gold language, so
  the reference is lingua (high-accuracy mode), used only with --libs.
--libs also times py3langid and lingua (pip install py3langid lingua-language-detector).
Absent files are skipped; the script exits 0.
"""

from __future__ import annotations

import csv
import glob
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.core.lang import detect_lang  # noqa: E402

SAMPLES = ROOT / "tests" / "data" / "lang_samples.tsv"
DEFAULT_T26 = Path("/work/shared-extra/crisislex_t26")


def shared_dir() -> Path:
    beside = ROOT.parent / "shared" / "data"
    return beside if beside.exists() else Path("/work/shared/data")


def load_samples() -> list[tuple[str, str]]:
    rows = []
    for line in SAMPLES.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            gold, text = line.split("\t", 1)
            rows.append((gold, text))
    return rows


def _map(code: str | None) -> str:
    if code is None or code in ("zxx", "und"):
        return "und"
    return code if code in ("en", "fr") else "other"


def detectors(with_libs: bool) -> dict[str, Callable[[str], str]]:
    found: dict[str, Callable[[str], str]] = {"brandpulse": detect_lang}
    if not with_libs:
        return found
    try:
        import py3langid  # type: ignore[import-not-found]

        py3langid.classify("warm up")
        found["py3langid"] = lambda t: _map(py3langid.classify(t)[0])
    except ImportError:
        print("py3langid not installed: skipped")
    try:
        from lingua import LanguageDetectorBuilder  # type: ignore[import-not-found]

        fast = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        accurate = LanguageDetectorBuilder.from_all_languages().build()

        def _code(det: object, text: str) -> str:
            lang = det.detect_language_of(text)  # type: ignore[attr-defined]
            return _map(lang.iso_code_639_1.name.lower() if lang is not None else None)

        found["lingua-low"] = lambda t: _code(fast, t)
        found["lingua"] = lambda t: _code(accurate, t)
    except ImportError:
        print("lingua-language-detector not installed: skipped")
    return found


def _timed(fn: Callable[[str], str], texts: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    out = [fn(t) for t in texts]
    return out, (time.perf_counter() - start) / max(1, len(texts)) * 1e6


def _t26_texts_of(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row[1] for row in csv.reader(handle) if len(row) > 1 and row[0] != "Tweet ID"]


def _t26_texts(t26: Path) -> list[str]:
    texts: list[str] = []
    for path in sorted(glob.glob(str(t26 / "*-tweets_labeled.csv"))):
        texts.extend(_t26_texts_of(Path(path)))
    return texts


def main(argv: list[str]) -> int:
    with_libs = "--libs" in argv
    args = [a for a in argv[1:] if not a.startswith("--")]
    data = Path(args[0]) if args else shared_dir()
    t26 = Path(args[1]) if len(args) > 1 else DEFAULT_T26
    dets = detectors(with_libs)
    samples = load_samples()
    gold = [g for g, _ in samples]
    texts = [t for _, t in samples]
    print(f"== {SAMPLES.relative_to(ROOT)} ({len(samples)} hand-written messages, gold labels)")
    for name, fn in dets.items():
        pred, us = _timed(fn, texts)
        acc = sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold)
        print(f"  {name:11s} accuracy={acc:.3f}  {us:7.1f} µs/message (first call)")
    for fname, lang in (("sentiment/en_semeval2017_dev.csv", "en"),
                        ("sentiment/en_airline_brands_dev.csv", "en"),
                        ("sentiment/fr_deft2017_dev.csv", "fr")):
        path = data / fname
        if not path.exists():
            print(f"{path}: absent, skipped")
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            rows = [r["text"] for r in csv.DictReader(handle)]
        print(f"== {fname} ({len(rows)} rows, all '{lang}')")
        for name, fn in dets.items():
            _timed(fn, rows)  # warm the memos
            pred, us = _timed(fn, rows)
            print(f"  {name:11s} accuracy={sum(p == lang for p in pred) / len(pred):.3f}  "
                  f"{us:7.1f} µs/message (warm)  {dict(Counter(pred))}")
    romance = ("Costa_Rica", "Guatemala", "Italy", "Venezuela", "Spain", "Brazil", "Sardinia")
    events = sorted(glob.glob(str(t26 / "*-tweets_labeled.csv")))
    if events:
        print("== CrisisLexT26 events in Spanish/Italian/Portuguese countries: share labelled fr")
        for path in events:
            if not any(k in path for k in romance):
                continue
            rows = _t26_texts_of(Path(path))
            shares = []
            for name, fn in dets.items():
                if name == "lingua" and len(rows) > 2000:
                    continue
                pred = [fn(t) for t in rows]
                shares.append(f"{name}={pred.count('fr') / len(rows):.3f}")
            print(f"  {Path(path).name.split('-')[0]:32s} n={len(rows):5d} " + " ".join(shares))
    if t26.exists() and "lingua" in dets:
        rows = _t26_texts(t26)
        ref, _ = _timed(dets["lingua"], rows)
        print(f"== CrisisLexT26 ({len(rows)} tweets), reference = lingua high accuracy "
              f"{dict(Counter(ref))}")
        for name, fn in dets.items():
            if name == "lingua":
                continue
            pred, us = _timed(fn, rows)
            agree = sum(p == r for p, r in zip(pred, ref, strict=True)) / len(rows)
            conf = Counter((r, p) for p, r in zip(pred, ref, strict=True) if p != r)
            print(f"  {name:11s} agreement={agree:.3f}  {us:7.1f} µs/message  "
                  f"errors (ref, pred): {dict(conf.most_common(6))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
