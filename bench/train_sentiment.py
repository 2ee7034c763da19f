"""Train the shipped sentiment model (issue 22) and write its weights and model card.

Usage (training needs numpy, scipy, scikit-learn and vaderSentiment, in a venv of its own;
the project's runtime needs none of the first three):

    python3 -m venv /tmp/trainvenv
    /tmp/trainvenv/bin/pip install numpy scipy scikit-learn 'vaderSentiment>=3.3.2,<3.4'
    # snapshots: fetch github:cbaziotis/datastories-semeval2017-task4,
    #            github:cardiffnlp/tweeteval, github:cardiffnlp/xlm-t,
    #            github:felipebravom/AffectiveTweets (CMU ARK's word clusters, checked
    #            identical to brendano/ark-tweet-nlp's)  (under /work/.mirror)
    PYTHONPATH=. /tmp/trainvenv/bin/python bench/train_sentiment.py [--mirrors DIR]
        [--dev-dir /work/shared/data/sentiment] [--out streams/data/sentiment_model.npz]
        [--card streams/data/SENTIMENT_MODEL.md] [--grid] [--validate]

Training data, training splits only, read by repository and pinned commit
(`bench/_sentiment_data.py`): English, the SemEval-2013..2016 Task 4A releases (the pool
TweetEval's sentiment train split is built from) and TweetEval's validation split; French,
xlm-t's DEFT-2017 train and validation splits. Any tweet whose `dedupe_key` occurs in an
evaluation set (SemEval-2017 and airline dev files, xlm-t's French test split) is dropped.

Choices (the regularisation C and, per language, two class offsets added to the logits)
are made on the **tune** halves only (`half_of`): SemEval-2017 and airline for English
(their mean), xlm-t French test for French. Nothing is trained on the airline set. The
held-out halves are scored by `bench/eval_sentiment.py`, once, after training.
Deterministic: lbfgs from zeros on a fixed row order, no sampling (the seed only orders
the rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from array import array
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "bench"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import _sentiment_data as data  # noqa: E402

from streams.core import sentiment, sentiment_model  # noqa: E402
from streams.core.sentiment_model import (  # noqa: E402
    CLASSES,
    FEATURE_VERSION,
    ClusterTable,
    SentimentModel,
    SentimentModels,
    Spec,
    dense_names,
)
from streams.core.text import prepare  # noqa: E402

SEED = 22
#: Per language: features, regularisation C, class weights. Chosen on the tune halves:
#: English reads words and word pairs (character n-grams lowered SemEval), French, with
#: 2,000 training tweets, gains most from character n-grams (morphology, spelling).
SPECS = {"en": Spec(bits=18, char_min=3, char_max=0, bigrams=True, clusters=(4, 8, 12, 16)),
         "fr": Spec(bits=18, char_min=3, char_max=5, bigrams=False)}
C = {"en": 0.03, "fr": 0.3}
#: The dense (lexicon) columns are multiplied by this while training and their weights by
#: it on export (the runtime reads the same features): the L2 penalty then shrinks those
#: few strong features less than the many hashed ones.
DENSE_SCALE = {"en": 1.0, "fr": 1.0}
#: English training tweets are 40 % positive and 16 % negative, the reverse of brand
#: traffic and of SemEval-2017's test: classes are weighted to balance. French is balanced.
CLASS_WEIGHT: dict[str, str | None] = {"en": "balanced", "fr": None}
C_GRID = {"en": (0.01, 0.03, 0.1), "fr": (0.1, 0.3, 1.0)}
#: Share of the training rows held out (stratified, seeded) by `--validate`: in-domain
#: macro-F1 per C, printed for information. It prefers less regularisation (English
#: C = 0.1) than the tune halves, which are out of the training data's domain (SemEval
#: 2017's topics, airline customers) and lose with it.
VALIDATION_SHARE = 0.2
OFFSETS = tuple(round(x * 0.1, 1) for x in range(-8, 9))
#: The tune halves that choose each language's settings (C, class offsets): their mean
#: macro-F1. English: SemEval-2017 and airline together, so the class offsets do not fit
#: SemEval's label mix alone (on SemEval's tune half only they cut negatives and lost
#: airline 0.05); the airline set is never trained on and its held-out half stays unseen.
TUNE_SETS = {"en": ("semeval", "airline"), "fr": ("fr_test",)}
#: Measured once, after training, by `bench/eval_sentiment.py` (not an input of training).
HELD_OUT_NOTE = (
    "**Held-out halves**, scored once after training, for this model only "
    "(`PYTHONPATH=. python bench/eval_sentiment.py`; lexicon alone in brackets, "
    "`--lexicon`): SemEval-2017 EN **0.626** (0.620), airline EN **0.671** (0.648), "
    "DEFT-2017 FR xlm-t test **0.648** (0.575). Issue 22's targets are 0.66 / 0.70 / 0.64: "
    "French is met, SemEval and airline are not. The previous model (no word clusters; "
    "English class offsets (0, -0.4)) scored 0.616 / 0.674 / 0.633 on the same halves. "
    "With ~770 tweets a half, one standard error of macro-F1 is about 0.02: the airline "
    "change (-0.003) is noise; SemEval's tune/held-out gap (0.665 / 0.626) is partly the "
    "halves themselves (the lexicon scores 0.605 / 0.620 on them).")
#: Measured after training (not an input of it); see the card.
COST_NOTE = (
    "**Cost** (shared 2-core VM, load average 5-7: every "
    "figure below is inflated about 2x against the quiet runs of docs/analysis.md). "
    "`PYTHONPATH=. python bench/analysis.py --worker-path --repeat 5` (5,000 TWCS texts, the "
    "worker's audience path, CPU time per message), this model, the previous model "
    "(`BRANDPULSE_SENTIMENT_MODEL=<previous .npz>`) and the lexicon "
    "(`BRANDPULSE_SENTIMENT_MODEL=lexicon`) interleaved, five runs each: warm medians "
    "87.0 / 79.8 / 79.7 / 84.2 / 83.1 us (this model), 84.2 / 82.9 / 81.1 / 80.0 / 82.1 "
    "(previous), 62.8 / 61.1 / 58.5 / 59.8 / 59.5 (lexicon): the model adds about 22 us a "
    "message over the lexicon, as the previous one did (cluster lookups happen once per "
    "spelling, in the memo); cold first pass 116-127 us against 106-113 (previous). "
    "`PYTHONPATH=. python bench/eval_sentiment.py --cost`: load 40-43 ms (best of 5); RSS "
    "after the TWCS texts +18.7 MB over the lexicon alone (previous model: +15.0 MB; the "
    "cluster table is 1.3 MB of arrays, the rest is the memos).")
#: What was tried and not shipped (English: mean tune macro-F1 of SemEval and airline
#: before class offsets, "validation": 20 % of the training rows held out).
TRIED_NOTE = (
    "**Tried, not shipped**: choosing C on held-out training rows (in-domain): it prefers "
    "C = 0.1 (validation 0.672 vs 0.660 at C = 0.03) but loses out of domain (tune, before "
    "offsets: SemEval 0.651 / airline 0.648 vs 0.654 / 0.666), so C stays chosen on the tune "
    "halves; dense lexicon columns scaled x5 so the penalty shrinks them less (with "
    "clusters: validation 0.668, tune 0.648 / 0.671 vs 0.654 / 0.670), French x3 (tune "
    "0.638 vs 0.641); C = 0.01 for English (tune 0.645 / 0.657). French settings are "
    "unchanged: retrained because the text preparation changed since the previous file "
    "(a645997), tune 0.648 (previous file 0.649 under the current code)."
    ' On the current recipe (word clusters), `bench/sentiment_variants.py` scores each '
    'variant on the tune halves with the class offsets chosen on one half of each and '
    "scored on the other (so the offsets' own fit is not counted), SemEval / airline: "
    'shipped LR C = 0.03 0.647 / 0.696; LR C = 0.1 0.641 / 0.690; linear SVM C = 0.001 / '
    '0.003 / 0.01 0.647 / 0.688, 0.663 / 0.700, 0.641 / 0.700; negation scope (words '
    'between a negator and the end of the clause keyed apart) 0.654 / 0.688 with LR, '
    '0.649 / 0.703 with the SVM; 2^20 buckets 0.648 / 0.694; character 3-5-grams 0.636 / '
    '0.653. Every variant lies within about 0.015 of the shipped recipe (one standard '
    'error on ~750 tweets is about 0.02), and the one above it (SVM C = 0.003) is flanked'
    ' by its neighbours at the shipped level: the recipe has reached the plateau of '
    'linear models on this training data.')


def _rows(dev_dir: Path, mirrors: Path) -> tuple[list[tuple[str, str, str]], dict[str, object],
                                                  dict[str, list[tuple[str, str, str]]]]:
    """Training rows (text, label, lang), provenance, and the tune halves (per set)."""
    evaluation = {
        "semeval": [(t, y, "en") for t, y in data.read_csv(dev_dir / "en_semeval2017_dev.csv")],
        "airline": [(t, y, "en") for t, y in
                    data.read_csv(dev_dir / "en_airline_brands_dev.csv")],
        "fr_test": [(t, y, "fr") for t, y in data.xlmt_french("test", mirrors)],
    }
    banned = {data.dedupe_key(t) for rows in evaluation.values() for t, _, _ in rows}
    parts = {
        "semeval_2013_2016": [(t, y, "en") for t, y in data.semeval_train(mirrors)],
        "tweeteval_val": [(t, y, "en") for t, y in data.tweeteval_val(mirrors)],
        "xlmt_french_train": [(t, y, "fr") for t, y in data.xlmt_french("train", mirrors)],
        "xlmt_french_val": [(t, y, "fr") for t, y in data.xlmt_french("val", mirrors)],
    }
    seen: set[str] = set()
    rows: list[tuple[str, str, str]] = []
    provenance: dict[str, object] = {}
    for name, part in parts.items():
        kept = dropped_eval = dropped_dup = 0
        for text, label, lang in part:
            key = data.dedupe_key(text)
            if key in banned:
                dropped_eval += 1
            elif key in seen:
                dropped_dup += 1
            else:
                seen.add(key)
                rows.append((text, label, lang))
                kept += 1
        provenance[name] = {"rows": len(part), "kept": kept, "dropped_in_eval_sets": dropped_eval,
                            "dropped_duplicates": dropped_dup,
                            "labels": dict(Counter(y for _, y, _ in part))}
    random.Random(SEED).shuffle(rows)
    tune = {name: [r for r in rows_ if data.half_of(r[0]) == "tune"]
            for name, rows_ in evaluation.items()}
    return rows, provenance, tune


def cluster_table(root: Path) -> ClusterTable:
    """CMU ARK's word clusters as the runtime reads them: sorted crc32 of each word, its
    path's index; of two words with one crc32 (a handful), the more frequent is kept."""
    best: dict[int, tuple[int, str]] = {}
    for path, word, count in data.ark_clusters(root):
        h = ClusterTable.word_hash(word)
        if h not in best or count > best[h][0]:
            best[h] = (count, path)
    paths = sorted({path for _, path in best.values()})
    index = {path: i for i, path in enumerate(paths)}
    hashes = sorted(best)
    return ClusterTable(array("I", hashes), array("H", [index[best[h][1]] for h in hashes]),
                        paths)


def _features(rows: list[tuple[str, str, str]], spec: Spec,
              clusters: ClusterTable | None = None) -> sp.csr_matrix:
    n_cols = spec.size + len(dense_names())
    indptr, indices, values = [0], [], []
    for text, _, lang in rows:
        doc = prepare(text)
        inputs = sentiment.model_inputs(doc, lang)
        assert inputs is not None
        score, view = inputs
        for index, value in sentiment_model.features(doc, score, view, spec, clusters):
            indices.append(index)
            values.append(value)
        indptr.append(len(indices))
    matrix = sp.csr_matrix((np.array(values, dtype=np.float64), np.array(indices),
                            np.array(indptr)), shape=(len(rows), n_cols))
    matrix.sum_duplicates()
    return matrix


def _scale_dense(x: sp.csr_matrix, spec: Spec, factor: float) -> sp.csr_matrix:
    if factor == 1.0:
        return x
    d = np.ones(x.shape[1])
    d[spec.size :] = factor
    return (x @ sp.diags(d)).tocsr()


def _validation_f1(x: sp.csr_matrix, y: np.ndarray, c: float, class_weight: str | None
                   ) -> float:
    """Macro-F1 on a stratified, seeded share of the training rows, fitted on the rest."""
    order = np.random.RandomState(SEED).permutation(len(y))
    held = np.zeros(len(y), dtype=bool)
    for cls in range(len(CLASSES)):
        members = order[y[order] == cls]
        held[members[: round(len(members) * VALIDATION_SHARE)]] = True
    model = _fit(x[~held], y[~held], c, class_weight)
    predicted = model.decision_function(x[held]).argmax(axis=1)
    return data.macro_f1([CLASSES[i] for i in y[held]], [CLASSES[i] for i in predicted])


def _fit(x: sp.csr_matrix, y: np.ndarray, c: float, class_weight: str | None
         ) -> LogisticRegression:
    model = LogisticRegression(C=c, max_iter=400, tol=1e-4, class_weight=class_weight)
    model.fit(x, y)
    return model


def _labels(logits: np.ndarray, offsets: tuple[float, float] = (0.0, 0.0)) -> list[str]:
    shifted = logits + np.array([offsets[0], 0.0, offsets[1]])
    return [CLASSES[i] for i in shifted.argmax(axis=1)]


def _mean_f1(parts: list[tuple[np.ndarray, list[str]]],
             offsets: tuple[float, float] = (0.0, 0.0)) -> float:
    """Mean over sets of macro-F1, each set's logits shifted by the class offsets."""
    return sum(data.macro_f1(gold, _labels(logits, offsets)) for logits, gold in parts
               ) / len(parts)


def _best_offsets(parts: list[tuple[np.ndarray, list[str]]]
                  ) -> tuple[tuple[float, float], float]:
    best = ((0.0, 0.0), _mean_f1(parts))
    for neg in OFFSETS:
        for pos in OFFSETS:
            f1 = _mean_f1(parts, (neg, pos))
            # Ties keep the smaller shift (closer to the fitted model).
            if f1 > best[1] + 1e-9 or (abs(f1 - best[1]) <= 1e-9
                                       and abs(neg) + abs(pos) < sum(map(abs, best[0]))):
                best = ((neg, pos), f1)
    return best


def _export(fitted: dict[str, LogisticRegression], offsets: dict[str, tuple[float, float]],
            clusters: ClusterTable | None
            ) -> tuple[dict[str, np.ndarray], SentimentModels]:
    """Arrays of the .npz file (int16 hashed weights, one scale per class) and the same
    models as the runtime builds them."""
    meta: dict[str, object] = {
        "feature_version": FEATURE_VERSION, "dense": list(dense_names()),
        "classes": list(CLASSES),
        "languages": {lang: SPECS[lang].__dict__ for lang in fitted}}
    uses_clusters = clusters is not None and any(SPECS[lang].clusters for lang in fitted)
    if uses_clusters:
        assert clusters is not None
        meta["clusters"] = {"paths": list(clusters.paths),
                            "source": f"{data.ARK.repo} 50mpaths2 (git blob "
                                      f"{data.ARK_CLUSTERS_BLOB[:12]})"}
    arrays = {"meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)}
    if uses_clusters:
        assert clusters is not None
        arrays["clusters.hashes"] = np.array(clusters.hashes, dtype=np.uint32)
        arrays["clusters.ids"] = np.array(clusters.ids, dtype=np.uint16)
    models = {}
    for lang, model in fitted.items():
        spec = SPECS[lang]
        coef = model.coef_.T.astype(np.float64)  # (features, classes)
        hashed, dense = coef[: spec.size], coef[spec.size :].copy() * DENSE_SCALE[lang]
        neg, pos = offsets[lang]
        dense[dense_names().index("bias")] += (neg, 0.0, pos)
        # int16: int8 lost ~0.01 macro-F1 (most weights are small next to the largest).
        scale = np.maximum(np.abs(hashed).max(axis=0), 1e-12) / 32767.0
        arrays[f"{lang}.hashed"] = np.clip(np.rint(hashed / scale), -32767, 32767
                                           ).astype(np.int16).reshape(-1)
        arrays[f"{lang}.scale"] = scale.astype(np.float32)
        arrays[f"{lang}.dense"] = dense.astype(np.float32).reshape(-1)
        arrays[f"{lang}.intercept"] = model.intercept_.astype(np.float32)
        models[lang] = SentimentModel(
            spec, array("h", arrays[f"{lang}.hashed"].tobytes()),
            tuple(float(v) for v in arrays[f"{lang}.scale"]),  # type: ignore[arg-type]
            array("f", arrays[f"{lang}.dense"].tobytes()),
            tuple(float(v) for v in arrays[f"{lang}.intercept"]),  # type: ignore[arg-type]
            clusters if spec.clusters else None)
    return arrays, SentimentModels(models, meta)


def _runtime_f1(model: SentimentModels, rows: list[tuple[str, str, str]]) -> float:
    """Macro-F1 through the runtime path (memo, int8 weights, detected language)."""
    previous = sentiment.set_model(model)
    try:
        predicted = [sentiment.sentiment_label(sentiment.polarity(t)) for t, _, _ in rows]
    finally:
        sentiment.set_model(previous)
    return data.macro_f1([y for _, y, _ in rows], predicted)


def _card(path: Path, out: Path, provenance: dict[str, object], chosen: dict[str, object],
          figures: dict[str, float], seconds: float) -> None:
    size = out.stat().st_size
    lines = [
        "# Sentiment model card (`sentiment_model.npz`)",
        "",
        f"Written by `bench/train_sentiment.py` on {dt.date.today().isoformat()} "
        f"({seconds:.0f} s of training on a shared 2-core machine). Issue 22.",
        "",
        "**What**: a three-class (negative, neutral, positive) multinomial logistic regression "
        "for English and French tweets, evaluated by `streams/core/sentiment_model.py` with "
        "the standard library only (no numpy, scikit-learn or torch at run time). "
        f"File: {size / 1e6:.2f} MB, int16 hashed weights (one scale per class), float32 "
        "dense weights and the word-cluster table (uint32 word hashes, uint16 cluster "
        "numbers).",
        "",
        f"**Features** (feature version {FEATURE_VERSION}), one model per language: hashed "
        "(zlib.crc32) word unigrams (@handles, links and numbers merged into one key each); "
        "English: word bigrams and word clusters (for a word in CMU ARK's Brown clusters of "
        "English tweets, the prefixes of length 4, 8, 12 and 16 of its cluster's bit path, "
        "each a hashed feature: words never seen in training share the weights of the words "
        "used like them); French: character n-grams of words and hashtag bodies; "
        "dense: " + ", ".join(dense_names()) + " (the lexicon's polarity and word roles of "
        "`streams/core/sentiment.py`). Exact settings per language under Choices.",
        "",
        "**Training data** (training and validation splits only, read with `git show` at the "
        "commits below, never copied into the project):",
        "",
        "| set | repository @ commit | licence (as stated) | rows read → kept |",
        "|---|---|---|---|",
    ]
    sources = {"semeval_2013_2016": data.SEMEVAL, "tweeteval_val": data.TWEETEVAL,
               "xlmt_french_train": data.XLMT, "xlmt_french_val": data.XLMT}
    for name, info in provenance.items():
        source = sources[name]
        assert isinstance(info, dict)
        lines.append(f"| {name} | {source.repo} @ {source.commit[:12]} | {source.licence} | "
                     f"{info['rows']} → {info['kept']} ({info['dropped_in_eval_sets']} in an "
                     f"evaluation set, {info['dropped_duplicates']} duplicates dropped) |")
    lines += [
        f"| word clusters (features, not labels) | {data.ARK.repo} @ {data.ARK.commit[:12]}, "
        f"`src/main/resources/cmu/arktweetnlp/50mpaths2` (git blob "
        f"{data.ARK_CLUSTERS_BLOB[:12]}), read from {data.ARK_CLUSTERS_CARRIER.repo} @ "
        f"{data.ARK_CLUSTERS_CARRIER.commit[:12]} `resources/50mpaths2.txt.gz`, checked "
        f"byte-identical | {data.ARK.licence} | 216856 words in 1000 clusters (Owoputi et "
        "al., NAACL 2013: 56 million English tweets, 2008-2012) |",
        "",
        "`semeval_2013_2016`: `dataset/Subtask_A/downloaded/twitter-{2013train,2013dev,"
        "2013test,2014sarcasm,2014test,2015train,2015test,2016train,2016dev,2016devtest,"
        "2016test}-A.tsv`, the tweets TweetEval's sentiment train split is built from "
        "(TweetEval's own `train_text.txt` is over the 4 MiB snapshot limit). The SemEval-2017 "
        "test set, source of `en_semeval2017_dev.csv`, is not read. The 2013-2016 "
        "\"test\" files are earlier editions' test sets, released as training data for "
        "SemEval-2017 and part of TweetEval's train split.",
        "",
        "**Licences and what they allow**: TweetEval states no restriction of its own; xlm-t "
        "is Apache-2.0; the datastories repository is MIT. The underlying SemEval and DEFT "
        "annotations were released for research, and the tweets remain under Twitter's "
        "terms. The file ships no tweet text: only hashed feature weights (statistics of the "
        "data), which the repository licences above permit redistributing. Whoever needs "
        "certainty for commercial use of the DEFT/SemEval-derived weights should check the "
        "original organisers' terms; retraining on English only (`--no-french`) removes DEFT. "
        "The cluster table ships word hashes (crc32) and cluster numbers, no words; "
        "ark-tweet-nlp's LICENSE.txt puts its authors' own files under src/ under "
        "Apache-2.0 (the tagger as a whole is GPL through libraries it bundles, none of "
        "which is used here).",
        "",
        "**Choices** (tune halves only: English on the mean of SemEval-2017 and airline, "
        "French on xlm-t French test): " + json.dumps(chosen) + ".",
        "",
        "Command: `PYTHONPATH=. /tmp/trainvenv/bin/python bench/train_sentiment.py` (no "
        "`--grid`: C is fixed at English 0.03 and French 0.3, the values `--grid` chose on "
        "the tune halves for the first model, not re-chosen with the word clusters; the "
        "class offsets are chosen on the tune halves at every run). Deterministic: a second "
        "run wrote a bit-identical file.",
        "",
        "**Tune-half macro-F1** (three classes, runtime path, language auto-detected; "
        "`half_of` in `bench/_sentiment_data.py`):",
        "",
        "| set | tune half |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value:.3f} |" for name, value in figures.items()]
    lines += ["", HELD_OUT_NOTE, "", COST_NOTE, "", TRIED_NOTE, "",
              "Not for: languages other than English and French (scored 0.0), sarcasm, "
              "stance on political text. Out-of-domain check: airline customer tweets.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="train_sentiment.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirrors", type=Path, default=data.MIRRORS)
    parser.add_argument("--dev-dir", type=Path, default=Path("/work/shared/data/sentiment"))
    parser.add_argument("--out", type=Path, default=ROOT / "streams/data/sentiment_model.npz")
    parser.add_argument("--card", type=Path, default=ROOT / "streams/data/SENTIMENT_MODEL.md")
    parser.add_argument("--grid", action="store_true",
                        help=f"choose C per language among {C_GRID} on the tune halves "
                             f"(else {C})")
    parser.add_argument("--validate", action="store_true",
                        help=f"also print macro-F1 per C on a held-out {VALIDATION_SHARE:.0%} "
                             "of the training rows (in-domain; information only)")
    parser.add_argument("--no-french", action="store_true",
                        help="English model only (French falls back to the lexicon)")
    args = parser.parse_args(argv[1:])
    if len(sentiment.ENGLISH.lexicon) < 5000:
        print("vaderSentiment is not installed here: the lexicon features would differ from "
              "the runtime's", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows, provenance, tune = _rows(args.dev_dir, args.mirrors)
    print(json.dumps(provenance, indent=1))
    clusters = cluster_table(args.mirrors) if any(s.clusters for s in SPECS.values()) else None
    fitted: dict[str, LogisticRegression] = {}
    offsets: dict[str, tuple[float, float]] = {}
    chosen: dict[str, object] = {"seed": SEED}
    for lang in ("en", "fr"):
        if lang == "fr" and args.no_french:
            continue
        spec = SPECS[lang]
        train = [r for r in rows if r[2] == lang]
        scale = DENSE_SCALE[lang]
        x = _scale_dense(_features(train, spec, clusters), spec, scale)
        y = np.array([CLASSES.index(label) for _, label, _ in train])
        tune_parts = [(_scale_dense(_features(tune[name], spec, clusters), spec, scale),
                       [label for _, label, _ in tune[name]]) for name in TUNE_SETS[lang]]
        print(f"{lang}: {x.shape[0]} rows, {x.nnz} non-zeros "
              f"({time.perf_counter() - start:.0f} s)")
        validation: dict[str, float] = {}
        if args.validate:
            for c in C_GRID[lang]:
                validation[str(c)] = round(_validation_f1(x, y, c, CLASS_WEIGHT[lang]), 4)
                print(f"{lang} C={c}: macro-F1 on {VALIDATION_SHARE:.0%} of the training rows "
                      f"{validation[str(c)]:.4f} ({time.perf_counter() - start:.0f} s)")
        best: tuple[float, float, LogisticRegression] | None = None
        for c in (C_GRID[lang] if args.grid else (C[lang],)):
            candidate = _fit(x, y, c, CLASS_WEIGHT[lang])
            f1 = _mean_f1([(candidate.decision_function(tx), gold) for tx, gold in tune_parts])
            print(f"{lang} C={c}: mean tune macro-F1 of {TUNE_SETS[lang]} {f1:.4f} "
                  f"({time.perf_counter() - start:.0f} s)")
            if best is None or f1 > best[1]:
                best = (c, f1, candidate)
        assert best is not None
        c_best, _, model = best
        fitted[lang] = model
        offsets[lang], f1 = _best_offsets(
            [(model.decision_function(tx), gold) for tx, gold in tune_parts])
        print(f"{lang}: C={c_best}, class offsets (negative, positive) {offsets[lang]} -> "
              f"mean tune macro-F1 {f1:.4f}")
        chosen[lang] = {"C": c_best, **({"validation_macro_f1_by_C": validation}
                                        if validation else {}),
                        "class_weight": CLASS_WEIGHT[lang], "dense_scale": scale,
                        "class_offsets": offsets[lang], "spec": spec.__dict__,
                        "training_rows": len(train)}
    arrays, _ = _export(fitted, offsets, clusters)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)  # type: ignore[arg-type]
    reloaded = sentiment_model.load(args.out)
    figures = {name: _runtime_f1(reloaded, r) for name, r in tune.items()}
    print("runtime path, tune halves:", {k: round(v, 4) for k, v in figures.items()})
    names = {"semeval": "SemEval-2017 EN (en_semeval2017_dev.csv)",
             "airline": "airline EN (en_airline_brands_dev.csv; out of domain)",
             "fr_test": "DEFT-2017 FR (xlm-t French test split)"}
    _card(args.card, args.out, provenance, chosen,
          {names[k]: v for k, v in figures.items()}, time.perf_counter() - start)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {args.card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
