"""Check that a speed-up changed no analysis output: old code vs new code on real text.

Usage: python bench/equivalence.py [--against REV] [--dump FILE --root DIR]

Runs the evaluation files (TWCS sample, sentiment and crisis dev sets; read from
`../shared/data` relative to the project root, never copied) through the analysers and the
engine, once with the `streams` package of git revision REV (default HEAD, extracted with
`git archive` into a temporary directory) and once with the working tree's, and compares
every output line: tokens, language, sentiment, crisis matches, topic terms, reply tokens
and fingerprints, tone cues, the engine's observations and persisted features, brand
snapshots and crisis detector statuses (including a synthetic crisis built from the
CrisisLexT6 on-topic tweets, so the detectors activate and cool down). Exit status 0 when
identical, 1 on the first differences (printed), 2 when the data is absent.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TWCS = DATA / "twcs" / "twcs_5k.csv"
DEV_SETS = (
    DATA / "sentiment" / "en_semeval2017_dev.csv",
    DATA / "sentiment" / "en_airline_brands_dev.csv",
    DATA / "sentiment" / "fr_deft2017_dev.csv",
    DATA / "crisis" / "crisislex_t6_dev.csv",
)
T0 = 1_700_000_000.0


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("text")]


def _texts() -> list[str]:
    texts = [row["text"] for path in (TWCS, *DEV_SETS) for row in _rows(path)]
    return [*texts, "", " ", "😂😂😂", "RT @x: " + "a" * 2000, "#Sandy #qldfloods!!!"]


def _per_text(emit: Callable[[str, Any], None]) -> None:
    from streams.core.behaviour import event_terms
    from streams.core.crisis import crisis_match
    from streams.core.lang import detect_lang
    from streams.core.promo import tone_cues
    from streams.core.sentiment import polarity_doc
    from streams.core.similarity import TemplatedReplyDetector, reply_tokens, simhash
    from streams.core.text import prepare

    detector = TemplatedReplyDetector()
    for text in _texts():
        doc = prepare(text)
        lang = detect_lang(doc)
        match = crisis_match(doc)
        emit("text", [doc.norm, doc.tokens, lang, polarity_doc(doc, lang),
                      polarity_doc(doc, "en"), polarity_doc(doc, "fr"),
                      [list(match.terms), match.strong, match.weak, match.signal],
                      event_terms(doc), reply_tokens(doc), simhash(doc),
                      detector.fingerprint(doc), list(tone_cues(doc))])


_PROMOS = (  # brand posts that are tone-deaf in a crisis (ours, made up)
    "Stuck inside? Shop our whole store from your couch, free shipping all weekend!",
    "Bored by the storm? 20% off everything today only, use code STORMY #sandy",
    "lol who else is eating cookies right now? 😂",
)


def _crisis_stream() -> Iterator[Any]:
    """Audience messages for one brand: 14 h of ordinary tweets every 2 min, 2 h of crisis
    tweets every 20 s (a spike with crisis vocabulary), then 8 h of ordinary tweets; the
    brand replies with TWCS brand texts every 10 min, so posts meet the crisis."""
    from streams.events import Side, SocialEvent

    ordinary = [r["text"] for p in DEV_SETS[:3] for r in _rows(p)]
    crisis = [r["text"] for r in _rows(DEV_SETS[3]) if r.get("label") == "on-topic"]
    brand_texts = [r["text"] for r in _rows(TWCS) if r.get("inbound") == "False"]
    at, n = T0, 0
    for phase, (texts, step, hours) in enumerate(
            ((ordinary, 120, 14), (crisis, 20, 2), (ordinary[700:], 120, 8))):
        end = at + hours * 3600
        while at < end:
            n += 1
            text = texts[n % len(texts)]
            yield SocialEvent(Side.AUDIENCE, f"m{n}", "steady", "twitter", f"u{n % 97}",
                              text, at)
            if n % (600 // step or 1) == 0:
                text = (_PROMOS[n % len(_PROMOS)] if n % 7 == 0
                        else brand_texts[n % len(brand_texts)])
                yield SocialEvent(Side.BRAND, f"p{n}", "steady", "twitter", "steady", text,
                                  at + 1, f"m{n}" if n % 3 else None)
            at += step
        if phase == 0:
            yield "declare"


def _engine(emit: Callable[[str, Any], None]) -> None:
    from streams.config import parse_brands
    from streams.core.behaviour import GLOBAL, apply_crisis_command
    from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
    from streams.engine import Engine
    from streams.sources.files import load_events

    def finish(label: str, engine: Engine) -> None:
        end = engine.stream_time
        for brand in sorted(engine.active_brands()):
            now = engine.brand_now(brand, end)
            emit(label + ".snapshot", repr(engine.snapshot(brand, now)))
            emit(label + ".status", repr(engine.behaviour.brand(brand).crisis.status()))
        emit(label + ".global", repr(engine.behaviour.global_crisis.detector.status()))

    events, brands = load_events(str(TWCS), "twcs")
    engine = Engine(brands)
    for event in events:  # the offline path, exactly as `brandpulse report`
        for observation in engine.ingest_all([event]):
            emit("twcs.obs", repr(observation))
    finish("twcs", engine)

    engine = Engine(brands)  # features as persisted, with the behaviour read every 25 events
    for k, event in enumerate(events):
        engine.stream_time = max(engine.stream_time, event.created_at)
        found = engine.ingest(event, engine.stream_time)
        emit("twcs.features", [event.id, [repr(o) for o in found], _features(engine, event)])
        if k % 25 == 0:
            behaviour = engine.behaviour
            emit("twcs.read", [behaviour.brand(event.brand).crisis.crisis_active,
                               behaviour.detected(GLOBAL, event.created_at)])
    finish("twcs2", engine)

    steady = parse_brands({"brand": [{"name": "steady", "handles": {"twitter": ["steady"]}}]})
    for reads in (0, 7):
        engine = Engine(steady)
        for k, event in enumerate(_crisis_stream()):
            if event == "declare":
                storm = DeclaredCrisis("storm", ("hurricane", "flood"), ("sandy",), None,
                                       engine.stream_time)
                apply_crisis_command(engine.behaviour,
                                     CrisisCommand(CommandAction.DECLARE, storm))
                continue
            engine.stream_time = max(engine.stream_time, event.created_at)
            found = engine.ingest(event, engine.stream_time)
            found += engine.advance(engine.stream_time)
            emit("crisis.obs", [[repr(o) for o in found], _features(engine, event)])
            if reads and k % reads == 0:
                detector = engine.behaviour.brand("steady").crisis
                emit("crisis.read", [detector.crisis_active, repr(detector.status())])
        finish(f"crisis{reads}", engine)


def _features(engine: Any, event: Any) -> Any:
    """The features the engine keeps to persist with the event's SLA record. Read from
    both layouts, as the old revision may predate either: the brand's feature log
    (streams/core/features.py, issue 25), or the SLA record itself before it."""
    from streams.core.conversation import hour_of
    from streams.events import Side

    hour = hour_of(event.created_at)
    if hasattr(engine, "features"):
        log = engine.features(event.brand)
        return None if log is None else log.get(event.side, hour, event.id)
    bucket = engine.book(event.brand).buckets.get(hour)
    if bucket is None:
        return None
    if event.side is Side.AUDIENCE:
        record = bucket.audience.get(event.id)
        return None if record is None else record.features
    post = bucket.posts.get(event.id)
    return None if post is None else post[3]


def dump(path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        def emit(kind: str, value: Any) -> None:
            out.write(kind + "\t" + json.dumps(value, ensure_ascii=False, default=repr) + "\n")
        _per_text(emit)
        _engine(emit)


def _run_dump(root: Path, out: Path) -> None:
    env = dict(os.environ, PYTHONHASHSEED="0")
    subprocess.run([sys.executable, __file__, "--dump", str(out), "--root", str(root)],
                   check=True, env=env)


def compare(revision: str) -> int:
    with tempfile.TemporaryDirectory(prefix="brandpulse-equivalence-") as tmp:
        old_root = Path(tmp) / "old"
        old_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "streams"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
        old, new = Path(tmp) / "old.tsv", Path(tmp) / "new.tsv"
        _run_dump(old_root, old)
        _run_dump(ROOT, new)
        old_lines = old.read_text(encoding="utf-8").splitlines()
        new_lines = new.read_text(encoding="utf-8").splitlines()
    kinds: dict[str, int] = {}
    for line in new_lines:
        kind = line.split("\t", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"{revision} vs working tree: {len(old_lines)} / {len(new_lines)} output lines "
          f"({', '.join(f'{k} {n}' for k, n in kinds.items())})")
    differences = [(i, a, b) for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False))
                   if a != b]
    if len(old_lines) != len(new_lines):
        differences.append((min(len(old_lines), len(new_lines)), "<length>", "<length>"))
    if differences:
        for i, a, b in differences[:5]:
            print(f"line {i + 1} differs:\n  old: {a[:300]}\n  new: {b[:300]}")
        print(f"{len(differences)} differing lines")
        return 1
    digest = hashlib.sha256("\n".join(new_lines).encode()).hexdigest()[:16]
    print(f"identical (sha256 {digest})")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD", help="git revision of the old code")
    parser.add_argument("--dump", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv[1:])
    if not all(path.exists() for path in (TWCS, *DEV_SETS)):
        print(f"evaluation data not found under {DATA}", file=sys.stderr)
        return 2
    if args.dump is not None:
        sys.path.insert(0, str(args.root or ROOT))
        import streams

        print(f"dumping with {Path(streams.__file__).parent}", file=sys.stderr)
        dump(args.dump)
        return 0
    return compare(args.against)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
