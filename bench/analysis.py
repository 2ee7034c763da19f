"""Cost of the per-message analysis: the analysers alone, or the worker's engine path.

Usage: python bench/analysis.py [--synthetic] [--n N]
       python bench/analysis.py --engine [--scenario] [--repeat R] [--stages]

Default mode times `scoring.analyse` (lang + sentiment + crisis + promo + jokey + SimHash)
per text. Inputs are the texts of the shared evaluation files when present (read from
`../shared/data` relative to the project root, never copied into the project), otherwise
synthetic tweets generated from a fixed seed. Prints the median and mean µs/message and
messages/s on one core, for a cold pass (empty memo caches) and a warm pass (the steady
state of a long-running stream, whose vocabulary repeats).

`--engine` times what a worker pays: `Engine.ingest_all` over the real TWCS sample (or, with
`--scenario`, the synthetic demo scenario at 1000 messages/h/brand), with and without
behaviour analysis, alternating; the difference is the behaviour cost per event. It adds
what the text mode skips: topic terms, the per-brand windows, the crisis detectors and the
brand/global crisis checks. `--stages` adds a warm pass with a timer around each stage of
`BehaviourBook.on_event` (the timers cost ~0.3 µs each).
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from streams.commands.scoring import analyse  # noqa: E402
from streams.core.crisis import crisis_signal  # noqa: E402
from streams.core.lang import detect_lang  # noqa: E402
from streams.core.promo import tone_cues  # noqa: E402
from streams.core.sentiment import polarity_doc  # noqa: E402
from streams.core.text import prepare  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TWCS = DATA / "twcs" / "twcs_5k.csv"
SHARED = (
    TWCS,
    DATA / "sentiment" / "en_semeval2017_dev.csv",
    DATA / "sentiment" / "en_airline_brands_dev.csv",
    DATA / "sentiment" / "fr_deft2017_dev.csv",
    DATA / "crisis" / "crisislex_t6_dev.csv",
)

# Filler (function and topic words) dominates real tweets; cue words are a minority.
_FILLER_EN = (
    "the a my our your to of in on for with at from is was are be it this that we you i "
    "flight order package account app phone card bill store team today yesterday week "
    "morning still just now again after before when why how what please dm us number "
    "email link update support agent seat gate bag delivery tracking refund status"
).split()
_FILLER_FR = (
    "le la les un une de des du et en au aux pour avec sur dans je tu il nous vous mon ma "
    "mes votre vos commande colis compte appli carte facture magasin train vol gare billet "
    "aujourd'hui hier semaine matin toujours encore depuis quand pourquoi comment merci"
).split()
_CUES_EN = (
    "great love thanks awesome terrible worst delayed cancelled nobody never not hate lol "
    "hurricane flood victims prayers sale 20% off shop now free shipping amazing rude"
).split()
_CUES_FR = (
    "génial nul déçu trop bien chiant pas jamais mdr inondation victimes soldes livraison "
    "offerte code promo retard annulé super merci"
).split()
_EXTRAS = ("@united", "@sncf", "#fail", "#Sandy", "https://t.co/abc123", "😂", "😡", "!!!", "?")


#: Share of cue words. 0.12 gives ~4 sentiment-bearing tokens per message, a little denser
#: than the ~3 measured on the shared real tweets; --cue-rate 0.2 (~4.7) is a cue-dense case.
CUE_RATE = 0.12


def synthetic(n: int, seed: int = 7, cue_rate: float = CUE_RATE) -> list[str]:
    """Tweet-like texts of 8-30 tokens (70 % English, 30 % French)."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        english = rng.random() < 0.7
        filler, cues = (_FILLER_EN, _CUES_EN) if english else (_FILLER_FR, _CUES_FR)
        k = rng.randint(8, 30)
        toks = [
            rng.choice(cues) if rng.random() < cue_rate else rng.choice(filler) for _ in range(k)
        ]
        for _ in range(rng.randint(0, 3)):
            toks.insert(rng.randrange(len(toks) + 1), rng.choice(_EXTRAS))
        if rng.random() < 0.3:
            toks = [t.upper() if rng.random() < 0.2 else t for t in toks]
        texts.append(" ".join(toks))
    return texts


def shared_texts() -> list[str]:
    texts: list[str] = []
    for path in SHARED:
        if path.exists():
            with path.open(encoding="utf-8", newline="") as handle:
                texts.extend(row["text"] for row in csv.DictReader(handle) if row.get("text"))
    return texts


def measure(texts: list[str]) -> tuple[float, float, float]:
    """(median µs/message, mean µs/message, messages/s over the whole pass)."""
    timings = []
    clock = time.perf_counter_ns
    start = clock()
    for text in texts:
        t0 = clock()
        analyse(text)
        timings.append(clock() - t0)
    total_s = (clock() - start) / 1e9
    return (statistics.median(timings) / 1000.0, statistics.fmean(timings) / 1000.0,
            len(texts) / total_s)


def audience_path(text: str) -> None:
    """What the worker runs per audience message (BehaviourBook.on_event): prepare, language,
    sentiment, crisis signal; plus the promo/jokey cues it runs on brand posts."""
    doc = prepare(text)
    lang = detect_lang(doc)
    if lang != "other":
        polarity_doc(doc, lang)
    crisis_signal(doc)
    tone_cues(doc)


def worker_path_main(runs: int) -> int:
    """Cold (first pass, empty memos) and warm passes of `audience_path` on TWCS texts, as
    process CPU time per message (time waiting for a core on a loaded machine excluded)."""
    twcs = next((p for p in SHARED if p.name == "twcs_5k.csv" and p.exists()), None)
    if twcs is None:
        print("TWCS sample absent: nothing to measure")
        return 0
    with twcs.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle) if row.get("text")]
    mean_len = sum(len(t) for t in texts) / len(texts)
    print(f"{len(texts)} TWCS texts ({twcs}), mean length {mean_len:.0f} chars; "
          f"worker audience path: prepare + lang + sentiment + crisis_signal + tone_cues")
    clock = time.process_time_ns
    passes = []
    for _ in range(1 + runs):
        start = clock()
        for text in texts:
            audience_path(text)
        passes.append((clock() - start) / len(texts) / 1000.0)
    warm = passes[1:]
    print(f"  cold (first pass): {passes[0]:.1f} µs/message (mean, CPU time)")
    print(f"  warm, {len(warm)} passes: min {min(warm):.1f}, median "
          f"{statistics.median(warm):.1f}, max {max(warm):.1f} µs/message (mean per pass)")
    return 0


# -- engine mode ---------------------------------------------------------------------------
def engine_input(scenario: bool) -> tuple[list[Any], Any, str]:
    """(events, brands, description) for the engine mode."""
    if scenario:
        from streams.sources.synthetic import generate_scenario, scenario_brands

        events = generate_scenario(1_700_000_000.0, 12 * 3600, rate_per_hour=1000)
        return events, scenario_brands(), "synthetic demo scenario, 1000 msg/h/brand"
    from streams.sources.files import load_events

    events, brands = load_events(str(TWCS), "twcs")
    return events, brands, f"real TWCS sample ({TWCS.name})"


def engine_pass(events: list[Any], brands: Any, behaviour: bool) -> float:
    """Mean CPU µs per event of the offline engine path (admit, ingest, advance).

    Process CPU time, not wall time: on a shared machine the time this process waits for a
    core is not its cost."""
    from streams.engine import Engine

    engine = Engine(brands, analyse_behaviour=behaviour)
    start = time.process_time_ns()
    for _ in engine.ingest_all(events):
        pass
    return (time.process_time_ns() - start) / 1000.0 / len(events)


#: (module, attribute, label) of the stages timed by --stages; "(in ...)" stages are
#: nested inside others and not added to the total.
STAGES = (
    ("streams.core.behaviour", "prepare", "prepare (normalise + tokenise)"),
    ("streams.core.behaviour", "detect_lang", "language"),
    ("streams.core.behaviour", "polarity_doc", "sentiment"),
    ("streams.core.behaviour", "crisis_match", "crisis vocabulary"),
    ("streams.core.behaviour", "event_terms", "topic terms"),
    ("streams.core.similarity:TemplatedReplyDetector", "fingerprint", "reply mask + SimHash"),
    ("streams.core.behaviour:BehaviourBook", "in_crisis", "in_crisis (audience)"),
    ("streams.core.behaviour:BehaviourBook", "active_crises", "active_crises (posts)"),
    ("streams.core.behaviour:BrandBehaviour", "_apply_audience", "audience windows"),
    ("streams.core.behaviour:BrandBehaviour", "_apply_post", "post windows"),
    ("streams.core.behaviour", "tone_verdict", "tone-deaf check"),
    ("streams.core.shared_crisis:SharedCrisisScope", "observe", "global scope observe"),
    ("streams.core.crisis_detector:CrisisDetector", "_update",
     "(in the above) detector decision"),
    ("streams.core.crisis_detector:CrisisDetector", "_evaluate",
     "(in the above) full evaluation"),
    ("streams.core.behaviour:BehaviourBook", "on_event", "BehaviourBook.on_event, whole"),
)


def stage_timers(events: list[Any], brands: Any) -> list[tuple[str, float, int]]:
    """One warm pass with timers around each stage: (label, µs per event, calls)."""
    import functools
    import importlib

    totals: dict[str, int] = {}
    calls: dict[str, int] = {}
    clock = time.perf_counter_ns
    originals = []
    for where, name, label in STAGES:
        module_name, _, class_name = where.partition(":")
        owner: Any = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        function = getattr(owner, name)
        originals.append((owner, name, function))
        totals[label] = calls[label] = 0

        def timed(*args: Any, _f: Any = function, _label: str = label, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_label] += clock() - t0
                calls[_label] += 1

        setattr(owner, name, functools.wraps(function)(timed))
    try:
        engine_pass(events, brands, True)
    finally:
        for owner, name, function in originals:
            setattr(owner, name, function)
    n = len(events)
    return [(label, totals[label] / 1000.0 / n, calls[label]) for _, _, label in STAGES]


def engine_main(scenario: bool, repeat: int, stages: bool) -> int:
    if not scenario and not TWCS.exists():
        print(f"{TWCS} not found (evaluation data); use --scenario", file=sys.stderr)
        return 2
    events, brands, source = engine_input(scenario)
    from streams.events import Side

    audience = sum(1 for e in events if e.side is Side.AUDIENCE)
    mean_len = sum(len(e.text) for e in events) / len(events)
    print(f"{len(events)} events of {source} ({audience} audience, "
          f"{len(events) - audience} brand posts), mean text {mean_len:.0f} chars")
    without = [engine_pass(events, brands, False)]
    cold = engine_pass(events, brands, True)  # first analysis in this process: empty memos
    print(f"  cold: {cold:.1f} µs/event with behaviour (without: {without[0]:.1f})")
    with_ = []
    for _ in range(repeat):
        without.append(engine_pass(events, brands, False))
        with_.append(engine_pass(events, brands, True))
    print(f"  warm, {repeat} alternating passes: with behaviour min {min(with_):.1f} / "
          f"median {statistics.median(with_):.1f} µs/event, without min "
          f"{min(without):.1f} / median {statistics.median(without):.1f}")
    print(f"  behaviour analysis (min with - min without): "
          f"{min(with_) - min(without):.1f} µs/event")
    if stages:
        print("  stages, one warm pass with timers (µs per event of the whole stream):")
        for label, per_event, count in stage_timers(events, brands):
            per_call = per_event * len(events) / count if count else 0.0
            print(f"    {label:34s} {per_event:6.1f} µs/event  {count:6d} calls "
                  f"{per_call:6.1f} µs/call")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="ignore shared files")
    parser.add_argument("--n", type=int, default=10_000, help="synthetic message count")
    parser.add_argument("--cue-rate", type=float, default=CUE_RATE, help="synthetic cue share")
    parser.add_argument("--engine", action="store_true", help="time the worker's engine path")
    parser.add_argument("--scenario", action="store_true",
                        help="engine mode on the synthetic demo scenario instead of TWCS")
    parser.add_argument("--repeat", type=int, default=3, help="engine mode: warm passes")
    parser.add_argument("--stages", action="store_true", help="engine mode: per-stage timers")
    parser.add_argument("--worker-path", action="store_true",
                        help="TWCS texts through the worker's per-message analysis, cold+warm")
    args = parser.parse_args(argv[1:])
    if args.worker_path:
        return worker_path_main(max(1, min(args.repeat, 50)))
    if args.engine:
        return engine_main(args.scenario, max(1, min(args.repeat, 50)), args.stages)
    texts = [] if args.synthetic else shared_texts()
    source = "shared evaluation/twcs texts"
    if not texts:
        texts = synthetic(args.n, cue_rate=args.cue_rate)
        source = "synthetic texts"
    mean_len = sum(len(t) for t in texts) / len(texts)
    print(f"{len(texts)} {source}, mean length {mean_len:.0f} chars")
    for label in ("cold", "warm"):
        median_us, mean_us, per_s = measure(texts)
        print(f"  {label}: median {median_us:.1f} µs/message, mean {mean_us:.1f}, "
              f"{per_s:,.0f} messages/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
