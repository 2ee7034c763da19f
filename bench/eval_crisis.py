"""Recall and false positives of the per-message crisis signal, split by event.

Usage: python bench/eval_crisis.py [SHARED_DATA_DIR] [T26_DIR] [FR_EVAL_TSV]

Data sources (each figure printed names its source):
* CrisisLexT6 (SHARED_DATA_DIR/crisis/crisislex_t6_dev.csv, on-topic/off-topic): split BY
  EVENT. The vocabulary and guards were built and tuned looking at DEV_EVENTS only;
  HELD_OUT_EVENTS were never read, only scored.
* CrisisLexT26 (T26_DIR/*-tweets_labeled.csv, default /work/shared-extra/crisislex_t26, a
  public MIT copy kept outside the project): crisis-related = "Related and informative" or
  "Related - but not informative". Events whose T6 twin is a dev event are left out; the
  remaining events are unseen. English and French recall are over the tweets the detector
  labels en / fr; the French tweets are those of Lac-Megantic, which was never used to
  build the French side (a translation of the CrisisLex lexicon).
* tests/eval/data/crisis_fr_eval.tsv: French crisis / ordinary sentences written for
  brandpulse (not real tweets), the only French check the test suite can run offline.
* tests/eval/data/crisis_fr_tune.tsv: self-written tweet-like French sentences the French
  rules of issue 13 were TUNED on (printed as such, never a held-out figure).
* DEFT-2017 (SHARED_DATA_DIR/sentiment/fr_deft2017_dev.csv): ordinary French tweets
  (environment and politics themes), for the French false-positive rate.
* TWCS (SHARED_DATA_DIR/twcs/twcs_5k.csv): ordinary customer-support traffic, for the
  false-positive rate (customer tweets, and all tweets).
Then the stream-adaptive signal (streams/core/crisis_expansion.py) next to the static one:
each event's whole stream (every row, every language) read in time order (tweet ids are
snowflakes) by one expander, as one audience stream of a worker; its parameters were
chosen on T26_STREAM_DEV (the 2012 T26 events and the T6 dev twins), the T6 dev events,
TWCS and DEFT; the 2013 T26 events are held out. TWCS is one stream in created_at order,
DEFT (no times) one stream at one instant.
Absent files are skipped and the script exits 0.
"""

from __future__ import annotations

import csv
import glob
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.commands.scoring import CrisisStream  # noqa: E402
from streams.core.crisis import crisis_match, crisis_signal  # noqa: E402
from streams.core.crisis_expansion import DEFAULT_EXPANSION, ExpansionParams  # noqa: E402
from streams.core.lang import detect_lang  # noqa: E402
from streams.core.text import prepare  # noqa: E402

DEV_EVENTS = ("2012_Sandy_Hurricane", "2013_Boston_Bombings", "2013_Alberta_Floods")
HELD_OUT_EVENTS = ("2013_Oklahoma_Tornado", "2013_West_Texas_Explosion",
                   "2013_Queensland_Floods")
# CrisisLexT26 events that are the same crises as the T6 dev events.
T26_DEV_TWINS = ("2013_Alberta_floods", "2013_Boston_bombings")
# Stream-adaptive signal (streams/core/crisis_expansion.py): its parameters were chosen on
# these T26 streams (the 2012 events, plus the T6 dev twins), the T6 dev events, TWCS and
# DEFT; every other T26 event (2013) is held out, Lac-Megantic (French) included.
T26_STREAM_DEV = ("2012_Colorado_wildfires", "2012_Costa_Rica_earthquake",
                  "2012_Guatemala_earthquake", "2012_Italy_earthquakes",
                  "2012_Philipinnes_floods", "2012_Typhoon_Pablo", "2012_Venezuela_refinery",
                  *T26_DEV_TWINS)
LAC_MEGANTIC = "2013_Lac_Megantic_train_crash"
TWITTER_EPOCH_MS = 1288834974657
DEFAULT_T26 = Path("/work/shared-extra/crisislex_t26")
FR_EVAL = ROOT / "tests" / "eval" / "data" / "crisis_fr_eval.tsv"
FR_TUNE = ROOT / "tests" / "eval" / "data" / "crisis_fr_tune.tsv"
RELATED = ("Related and informative", "Related - but not informative")


def shared_dir() -> Path:
    beside = ROOT.parent / "shared" / "data"
    return beside if beside.exists() else Path("/work/shared/data")


def load_t6(path: Path) -> list[tuple[str, str, bool]]:
    """(event, text, on-topic) rows of CrisisLexT6."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(r["event"], r["text"], r["label"] == "on-topic") for r in csv.DictReader(handle)]


def load_t26(directory: Path) -> list[tuple[str, str, bool]]:
    """(event, text, crisis-related) rows of CrisisLexT26 ("Not applicable" left out)."""
    rows: list[tuple[str, str, bool]] = []
    for path in sorted(glob.glob(str(directory / "*-tweets_labeled.csv"))):
        event = Path(path).name.split("-")[0]
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                if len(row) < 5 or row[0] == "Tweet ID":
                    continue
                label = row[4].strip()
                if label in RELATED or label == "Not related":
                    rows.append((event, row[1], label in RELATED))
    return rows


def snowflake_seconds(tweet_id: str) -> float | None:
    """Creation time of a tweet from its id (ids since late 2010 are time-ordered
    snowflakes: milliseconds since the Twitter epoch in the bits above the 22 low ones)."""
    digits = tweet_id.strip().strip("'\"")
    if not digits.isdigit():
        return None
    return ((int(digits) >> 22) + TWITTER_EPOCH_MS) / 1000.0


def load_t26_streams(directory: Path) -> dict[str, list[tuple[float, str, bool | None]]]:
    """Event -> its whole labelled stream in time order: (time, text, crisis-related or None
    for "Not applicable"), every row as a worker would have read it."""
    streams: dict[str, list[tuple[float, str, bool | None]]] = {}
    for path in sorted(glob.glob(str(directory / "*-tweets_labeled.csv"))):
        event = Path(path).name.split("-")[0]
        rows: list[tuple[float, str, bool | None]] = []
        with open(path, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                at = snowflake_seconds(row[0]) if len(row) >= 5 else None
                if at is None:
                    continue
                label = row[4].strip()
                rows.append((at, row[1], True if label in RELATED
                             else False if label == "Not related" else None))
        rows.sort(key=lambda r: r[0])
        streams[event] = rows
    return streams


def stream_signals(texts: Iterable[tuple[float, str]],
                   params: ExpansionParams = DEFAULT_EXPANSION) -> list[tuple[bool, bool]]:
    """(static, stream-adaptive) signal of each message, read in the given order by one
    expander, as one audience stream of a worker."""
    stream = CrisisStream(params)
    out = []
    for at, text in texts:
        doc = prepare(text)
        base = crisis_match(doc).signal
        out.append((base, stream.observe(doc, at, base)))
    return out


def load_fr_eval(path: Path = FR_EVAL) -> list[tuple[str, bool]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((text, label == "crisis"))
    return rows


def twcs_texts(path: Path, customers_only: bool) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [r["text"] for r in csv.DictReader(handle)
                if not customers_only or r["inbound"] == "True"]


def twcs_stream(path: Path) -> list[tuple[float, str]]:
    """All TWCS tweets in time order (created_at), one audience stream."""
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for r in csv.DictReader(handle):
            if r["created_at"]:
                at = datetime.strptime(r["created_at"], "%a %b %d %H:%M:%S %z %Y").timestamp()
                rows.append((at, r["text"]))
    rows.sort(key=lambda r: r[0])
    return rows


def rates(rows: Iterable[tuple[str, bool]],
          predict: Callable[[str], bool] = crisis_signal) -> tuple[float, float, int, int]:
    """(recall on positives, false-positive rate on negatives, positives, negatives)."""
    tp = fn = fp = tn = 0
    for text, gold in rows:
        pred = predict(text)
        if gold:
            tp += pred
            fn += not pred
        else:
            fp += pred
            tn += not pred
    return tp / max(1, tp + fn), fp / max(1, fp + tn), tp + fn, fp + tn


def _line(name: str, rows: list[tuple[str, bool]]) -> None:
    recall, fpr, pos, neg = rates(rows)
    print(f"  {name:44s} recall={recall:.3f} (n={pos:5d})  false-pos={fpr:.3f} (n={neg:5d})")


Scored = tuple[bool | None, bool, bool]  # (gold, static signal, stream-adaptive signal)


def scored_stream(rows: list[tuple[float, str, bool | None]],
                  params: ExpansionParams = DEFAULT_EXPANSION) -> list[Scored]:
    signals = stream_signals(((at, text) for at, text, _ in rows), params)
    return [(gold, static, adaptive)
            for (_, _, gold), (static, adaptive) in zip(rows, signals, strict=True)]


def _stream_line(name: str, scored: Iterable[Scored]) -> None:
    """Recall on gold True and false positives on gold False, static -> stream-adaptive."""
    pos = [(s, a) for g, s, a in scored if g is True]
    neg = [(s, a) for g, s, a in scored if g is False]

    def share(items: list[tuple[bool, bool]], k: int) -> float:
        return sum(item[k] for item in items) / max(1, len(items))

    text = f"  {name:44s}"
    if pos:
        text += f" recall {share(pos, 0):.3f} -> {share(pos, 1):.3f} (n={len(pos):5d})"
    if neg:
        text += (f"  false-pos {share(neg, 0):.4f} -> {share(neg, 1):.4f} "
                 f"(n={len(neg):5d})")
    print(text)


def stream_report(data: Path, t26_dir: Path, params: ExpansionParams = DEFAULT_EXPANSION
                  ) -> None:
    """The stream-adaptive signal next to the static one: each stream read in time order by
    one expander, as one audience stream of a worker."""
    print(f"== stream-adaptive signal (static -> adaptive; window {params.window_s // 3600} h, "
          f"support {params.min_support}, precision {params.min_precision})")
    t6_path = data / "crisis" / "crisislex_t6_dev.csv"
    if t6_path.exists():
        with t6_path.open(encoding="utf-8", newline="") as handle:
            t6 = list(csv.DictReader(handle))
        for event in DEV_EVENTS + HELD_OUT_EVENTS:
            rows = sorted((snowflake_seconds(r["tweet_id"]) or 0.0, r["text"],
                           r["label"] == "on-topic") for r in t6 if r["event"] == event)
            title = "T6 dev" if event in DEV_EVENTS else "T6 HELD OUT"
            _stream_line(f"{title} {event}", scored_stream(rows, params))
    if t26_dir.exists() and glob.glob(str(t26_dir / "*-tweets_labeled.csv")):
        streams = load_t26_streams(t26_dir)
        by_lang: dict[tuple[str, str], list[Scored]] = defaultdict(list)
        for event, rows in streams.items():
            part = ("dev" if event in T26_STREAM_DEV else "HELD OUT")
            langs = [detect_lang(text) for _, text, _ in rows]
            for lang, item in zip(langs, scored_stream(rows, params), strict=True):
                by_lang[(part, lang)].append(item)
                by_lang[(f"{part} {event}", lang)].append(item)
                if event not in T26_DEV_TWINS:
                    by_lang[("24 events (static set)", lang)].append(item)
        print(f"  CrisisLexT26 ({t26_dir}), by event: dev = {', '.join(T26_STREAM_DEV)}")
        for part in ("dev", "HELD OUT", "24 events (static set)"):
            for lang in ("en", "fr"):
                if by_lang.get((part, lang)):
                    _stream_line(f"T26 {part}, {lang} tweets", by_lang[(part, lang)])
        _stream_line("T26 HELD OUT, Lac-Megantic fr tweets",
                     by_lang[(f"HELD OUT {LAC_MEGANTIC}", "fr")])
        for (part, lang), items in sorted(by_lang.items()):
            if part.startswith("HELD OUT ") and lang in ("en", "fr") and len(items) >= 30:
                _stream_line(f"    {part[9:]} [{lang}]", items)
    twcs = data / "twcs" / "twcs_5k.csv"
    if twcs.exists():
        rows = [(at, text, False) for at, text in twcs_stream(twcs)]
        _stream_line("TWCS all tweets, one stream in time order", scored_stream(rows, params))
    deft = data / "sentiment" / "fr_deft2017_dev.csv"
    if deft.exists():
        with deft.open(encoding="utf-8", newline="") as handle:
            rows = [(0.0, r["text"], False) for r in csv.DictReader(handle)]
        _stream_line("DEFT-2017, one stream at one instant", scored_stream(rows, params))


def main(argv: list[str]) -> int:
    data = Path(argv[1]) if len(argv) > 1 else shared_dir()
    t26_dir = Path(argv[2]) if len(argv) > 2 else DEFAULT_T26
    fr_eval = Path(argv[3]) if len(argv) > 3 else FR_EVAL
    t6_path = data / "crisis" / "crisislex_t6_dev.csv"
    if t6_path.exists():
        t6 = load_t6(t6_path)
        print(f"== CrisisLexT6 ({t6_path}), split by event")
        for title, events in (("dev (built/tuned on)", DEV_EVENTS),
                              ("HELD OUT", HELD_OUT_EVENTS)):
            _line(f"{title}: all", [(t, g) for e, t, g in t6 if e in events])
            for event in events:
                _line(f"    {event}", [(t, g) for e, t, g in t6 if e == event])
    else:
        print(f"{t6_path}: absent, skipped")
    if t26_dir.exists() and glob.glob(str(t26_dir / "*-tweets_labeled.csv")):
        t26 = [r for r in load_t26(t26_dir) if r[0] not in T26_DEV_TWINS]
        langs = [detect_lang(t) for _, t, _ in t26]
        print(f"== CrisisLexT26 ({t26_dir}), {len({e for e, _, _ in t26})} events unseen "
              f"(left out: {', '.join(T26_DEV_TWINS)})")
        for lang in ("en", "fr"):
            _line(f"HELD OUT, {lang} tweets",
                  [(t, g) for (_, t, g), lg in zip(t26, langs, strict=True) if lg == lang])
        _line("HELD OUT, Lac-Megantic fr tweets",
              [(t, g) for (e, t, g), lg in zip(t26, langs, strict=True)
               if lg == "fr" and e == "2013_Lac_Megantic_train_crash"])
        per_event: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for (event, text, gold), lang in zip(t26, langs, strict=True):
            if lang in ("en", "fr"):
                per_event[f"{event} [{lang}]"].append((text, gold))
        for key in sorted(per_event):
            if len(per_event[key]) >= 30:
                _line(f"    {key}", per_event[key])
    else:
        print(f"{t26_dir}: absent, skipped")
    if fr_eval.exists():
        print(f"== {fr_eval.relative_to(ROOT)} (self-written French sentences, not tweets)")
        _line("French, self-written", load_fr_eval(fr_eval))
    if FR_TUNE.exists():
        _line("French, self-written TUNE set (tuned on)", load_fr_eval(FR_TUNE))
    deft = data / "sentiment" / "fr_deft2017_dev.csv"
    if deft.exists():
        print(f"== ordinary French tweets ({deft})")
        with deft.open(encoding="utf-8", newline="") as handle:
            _line("DEFT-2017 tweets", [(r["text"], False) for r in csv.DictReader(handle)])
    else:
        print(f"{deft}: absent, skipped")
    twcs = data / "twcs" / "twcs_5k.csv"
    if twcs.exists():
        print(f"== ordinary customer-support traffic ({twcs})")
        for title, customers in (("customer tweets", True), ("all tweets", False)):
            texts = twcs_texts(twcs, customers)
            _line(f"TWCS {title}", [(t, False) for t in texts])
    else:
        print(f"{twcs}: absent, skipped")
    stream_report(data, t26_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
