"""Trained three-class sentiment models shipped with the package (issue 22).

One multinomial logistic regression per language (English, French) over hashed word
unigrams and bigrams, hashed character n-grams of words, hashed word-cluster paths (CMU
ARK's Brown clusters of English tweets, `ClusterTable`), and the lexicon's own evidence
(its polarity, sentiment words, negators, intensifiers, emoji, "!"). The lexicon reads
opinion words well but has no notion of what a topic or a phrasing usually means; the
weights, learnt from public labelled tweets
(``bench/train_sentiment.py``, ``streams/data/SENTIMENT_MODEL.md``), add that.

Why this shape: the worker's whole per-message analysis must stay within tens of µs, so
the model is linear and evaluated through a per-spelling memo. Every feature of a token
(its unigram, its character n-grams, its lexicon role) is fixed by its spelling and the
language, so its contribution to the three logits is summed once and cached; a message
then costs one dict lookup and three additions per token, plus its bigrams and a few
message-level features. Hashing uses ``zlib.crc32`` (stable across processes and
platforms, unlike the salted ``hash()``). The file is a plain ``.npz`` (no pickle), read
here with the standard library only: the worker needs no numpy. Pure: no Faust, Kafka or
Prometheus import, no randomness, no clock.
"""

from __future__ import annotations

import bisect
import json
import math
import re
import zipfile
import zlib
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import itemgetter, xor
from pathlib import Path
from typing import Final

from streams.core.npy import NpyError, read_npy
from streams.core.text import DATA_DIR, Doc

__all__ = [
    "DEFAULT_PATH",
    "FEATURE_VERSION",
    "LANG_MODEL",
    "ClusterTable",
    "LexiconView",
    "ModelFileError",
    "SentimentModel",
    "SentimentModels",
    "Spec",
    "dense_names",
    "load",
    "message_features",
    "token_features",
]

#: The model shipped in the package.
DEFAULT_PATH: Final = DATA_DIR / "sentiment_model.npz"
#: Version of the feature definitions below; a file written for another version is refused
#: (its weights would be read against different features).
FEATURE_VERSION: Final = 1
#: Which language's model reads a message: "und" (emoji, emoticons only) is read as
#: English, as the lexicon does.
LANG_MODEL: Final = {"en": "en", "und": "en", "fr": "fr"}
#: Classes in the order of the weight columns.
CLASSES: Final = ("negative", "neutral", "positive")
#: Per-language, per-spelling memo bound (entries): bounded memory on adversarial vocabularies.
MEMO_LIMIT: Final = 50_000
#: Neutral polarities stay inside the ±0.05 band of ``sentiment_label``; the others start
#: just past it, so the label of a polarity is always the model's own class.
BAND: Final = 0.05

#: Memo entry: logit contributions (negative, neutral, positive), the token's bigram
#: bucket parts as left and as right word (see `_bigram_index`), has a valence.
_Entry = tuple[float, float, float, int, int, bool]

_TWO_CAPS: Final = re.compile(r"[A-Z]{2}")
_SQUASH_RE: Final = re.compile(r"(\w)\1{2,}")
_BIGRAM_MUL: Final = 0x01000193  # FNV prime: mixes the left token's hash into the pair's

#: Dense (not hashed) features; token-level ones first.
_TOKEN_DENSE: Final = (
    "lex_pos_words",  # tokens with a positive lexicon valence
    "lex_neg_words",  # ... negative
    "lex_valence_sum",  # their valences / 4 (−1..1 per word)
    "emoji_pos",  # emoji / emoticons with a positive valence
    "emoji_neg",
    "negators",  # negation words ("not", "jamais", "n't" forms)
    "intensifiers",  # boosters ("very", "trop")
    "elongated",  # a letter repeated 3+ times ("sooo")
)
_MESSAGE_DENSE: Final = (
    "bias",  # always 1 (the tuned class offsets are folded into its weights)
    "lex_polarity",  # the lexicon's whole-message score (negation, contrast, rules)
    "lex_positive",  # that score > +0.05
    "lex_negative",  # that score < −0.05
    "lex_abs",
    "exclamations",  # number of "!" / 4, capped at 1
    "question",  # a "?" and no "!"
    "caps_words",  # words in capitals (≥ 2 letters) in mixed-case text, capped at 3
    "no_sentiment_word",  # no lexicon word at all
)
_DENSE: Final = _TOKEN_DENSE + _MESSAGE_DENSE
_DENSE_INDEX: Final = {name: i for i, name in enumerate(_DENSE)}


def dense_names() -> tuple[str, ...]:
    """Names of the dense features, in weight order."""
    return _DENSE


class ModelFileError(ValueError):
    """The model file is missing, unreadable, or written for other features."""


@dataclass(frozen=True)
class Spec:
    """Which hashed features a model uses; stored in its file, so the runtime and the
    training script read one definition."""

    bits: int = 18  # hashed buckets: 2**bits
    char_min: int = 3  # character n-grams of "<word>", lengths char_min..char_max
    char_max: int = 5  # (char_max < char_min: none)
    bigrams: bool = True
    #: Word-cluster features (the file's `ClusterTable`): for a word in the table, the
    #: prefixes of its cluster's bit path of these lengths (a length past the path's end:
    #: the whole path), each a hashed feature. Empty: no cluster features.
    clusters: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return 1 << self.bits


@dataclass(frozen=True)
class LexiconView:
    """What the model reads of one language's lexicon: token valence and modifier sets."""

    valence: Callable[[str], float | None]
    negators: frozenset[str]
    boosters: Mapping[str, float]


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


class ClusterTable:
    """Word clusters (Brown clusters of English tweets): a word's cluster is a bit path
    such as "0110111000110"; words with a common prefix are used alike. Stored as the
    sorted crc32 of each word and, in the same order, its path's index: a word absent
    from the table has no cluster (a crc32 collision with one of the ~217,000 words is
    one chance in ~20,000). Read once per spelling, through the model's memo."""

    __slots__ = ("hashes", "ids", "paths")

    def __init__(self, hashes: array, ids: array, paths: Sequence[str]) -> None:
        if len(hashes) != len(ids):
            raise ModelFileError(f"cluster table: {len(hashes)} words, {len(ids)} paths")
        if hashes.itemsize != 4:
            raise ModelFileError("cluster table: word hashes must be 4-byte integers")
        if ids and max(ids) >= len(paths):
            raise ModelFileError("cluster table: a word points past the path list")
        if any(a >= b for a, b in pairwise(hashes)):
            raise ModelFileError("cluster table: word hashes are not sorted and unique")
        self.hashes = hashes
        self.ids = ids
        self.paths = tuple(paths)

    @staticmethod
    def word_hash(word: str) -> int:
        return zlib.crc32(word.encode("utf-8"))

    def _find(self, word: str) -> str | None:
        h = zlib.crc32(word.encode("utf-8"))
        hashes = self.hashes
        i = bisect.bisect_left(hashes, h)
        if i < len(hashes) and hashes[i] == h:
            found: str = self.paths[self.ids[i]]
            return found
        return None

    def path(self, token: str) -> str | None:
        """The cluster path of a token (lower-case, as `prepare` gives it); a hashtag
        absent from the table is looked up without its "#". Handles and links: none (the
        model merges them into one key each)."""
        first = token[0]
        if first == "@" or token.startswith(("http", "www.")):
            return None
        found = self._find(token)
        if found is None and first == "#" and len(token) > 1:
            found = self._find(token[1:])
        return found


def _unigram_key(token: str) -> str:
    """Mentions, links and numbers share one key each: handles and URLs are names, not
    opinions, and would otherwise spread over the table."""
    first = token[0]
    if first == "@" and len(token) > 1:
        return "@user"
    if token.startswith(("http", "www.")) and len(token) > 4:
        return "http"
    if token.isdigit():
        return "0"
    return token


def token_features(token: str, view: LexiconView, spec: Spec,
                   clusters: ClusterTable | None = None
                   ) -> tuple[int, list[tuple[int, float]]]:
    """The token's hash (for bigrams) and its features as (index, value) pairs.

    Indices below ``spec.size`` are hashed buckets; ``spec.size + k`` is dense feature k
    (``dense_names``). ``clusters`` is read when ``spec.clusters`` asks for it."""
    mask = spec.size - 1
    key = _unigram_key(token)
    h = _crc("u\x00" + key)
    feats: list[tuple[int, float]] = [(h & mask, 1.0)]
    body = token[1:] if token[0] == "#" else token
    if spec.char_max >= spec.char_min and body.isalpha():
        padded = f"<{body}>"
        for n in range(spec.char_min, spec.char_max + 1):
            for i in range(len(padded) - n + 1):
                feats.append((_crc("c\x00" + padded[i : i + n]) & mask, 1.0))
    if spec.clusters and clusters is not None:
        path = clusters.path(token)
        if path is not None:
            # dict.fromkeys: each distinct prefix once, in a fixed order.
            for prefix in dict.fromkeys(path[:n] for n in spec.clusters):
                feats.append((_crc("k\x00" + prefix) & mask, 1.0))
    dense = spec.size
    value = view.valence(token)
    if value is not None and value != 0.0:
        if token[0].isalnum() or token[0] == "#":
            feats.append((dense + _DENSE_INDEX["lex_pos_words" if value > 0 else "lex_neg_words"],
                          1.0))
            feats.append((dense + _DENSE_INDEX["lex_valence_sum"], max(-4.0, min(4.0, value)) / 4))
        else:
            feats.append((dense + _DENSE_INDEX["emoji_pos" if value > 0 else "emoji_neg"], 1.0))
    if token in view.negators or token.endswith("n't"):
        feats.append((dense + _DENSE_INDEX["negators"], 1.0))
    elif token in view.boosters:
        feats.append((dense + _DENSE_INDEX["intensifiers"], 1.0))
    if _SQUASH_RE.search(token) is not None and token.isalpha():
        feats.append((dense + _DENSE_INDEX["elongated"], 1.0))
    return h, feats


def _bigram_index(left: int, right: int, mask: int) -> int:
    """Bucket of a word pair from the two words' hashes; equal to
    ``((left * _BIGRAM_MUL) & mask) ^ (right & mask)``, which the memo stores per word."""
    return ((left * _BIGRAM_MUL) ^ right) & mask


def _caps_words(raw: str) -> int:
    """Words written in capitals (≥ 2 letters) when the message is not all capitals."""
    if raw.isupper() or raw.islower():
        return 0
    if raw.isascii() and _TWO_CAPS.search(raw) is None:
        return 0  # such a word needs two capitals in a row: one C-level scan says none
    count = 0
    for word in raw.split():
        if len(word) > 1 and word.isupper() and word.isalpha():
            count += 1
            if count == 3:
                break
    return count


def message_features(doc: Doc, lexicon_score: float, has_sentiment_word: bool, spec: Spec
                     ) -> list[tuple[int, float]]:
    """Message-level dense features (the bigrams are added by the caller from the token
    hashes). ``lexicon_score`` is the lexicon's polarity of the same message."""
    dense = spec.size
    index = _DENSE_INDEX
    norm = doc.norm
    bangs = norm.count("!")
    feats = [
        (dense + index["bias"], 1.0),
        (dense + index["lex_polarity"], lexicon_score),
        (dense + index["lex_abs"], abs(lexicon_score)),
    ]
    if lexicon_score > BAND:
        feats.append((dense + index["lex_positive"], 1.0))
    elif lexicon_score < -BAND:
        feats.append((dense + index["lex_negative"], 1.0))
    if bangs:
        feats.append((dense + index["exclamations"], min(bangs, 4) / 4))
    elif "?" in norm:
        feats.append((dense + index["question"], 1.0))
    caps = _caps_words(doc.raw)
    if caps:
        feats.append((dense + index["caps_words"], caps / 3))
    if not has_sentiment_word:
        feats.append((dense + index["no_sentiment_word"], 1.0))
    return feats


def features(doc: Doc, lexicon_score: float, view: LexiconView, spec: Spec,
             clusters: ClusterTable | None = None) -> list[tuple[int, float]]:
    """Every feature of a message as (index, value) pairs, repeats included: what the
    training script fits, and what `SentimentModel.logits` evaluates through its memo."""
    out: list[tuple[int, float]] = []
    hashes: list[int] = []
    sentiment_word = False
    mask = spec.size - 1
    for token in doc.tokens:
        h, feats = token_features(token, view, spec, clusters)
        hashes.append(h)
        out.extend(feats)
        if not sentiment_word:
            value = view.valence(token)
            sentiment_word = value is not None and value != 0.0
    if spec.bigrams:
        out.extend((_bigram_index(a, b, mask), 1.0) for a, b in pairwise(hashes))
    out.extend(message_features(doc, lexicon_score, sentiment_word, spec))
    return out


def polarity_of(probabilities: tuple[float, float, float]) -> float:
    """Polarity in [-1, 1] whose ``sentiment_label`` (±0.05) is the most probable class:
    p(positive) − p(negative), squeezed into the ±0.05 band for a neutral message and
    moved past it otherwise. The mean over messages keeps the usual reading (more positive
    than negative messages → above 0)."""
    p_neg, p_neu, p_pos = probabilities
    margin = p_pos - p_neg
    if p_neu >= p_pos and p_neu >= p_neg:
        return BAND * margin
    if margin > 0:
        return min(1.0, BAND + (1.0 - BAND) * margin)
    return max(-1.0, -BAND + (1.0 - BAND) * margin)


class SentimentModel:
    """The weights of one language's model and the per-spelling memo that evaluates it."""

    __slots__ = ("clusters", "columns", "dense", "intercept", "mask", "memo", "resets", "rows",
                 "scale", "spec")

    def __init__(self, spec: Spec, hashed: array, scale: tuple[float, float, float],
                 dense: array, intercept: tuple[float, float, float],
                 clusters: ClusterTable | None = None) -> None:
        if len(hashed) != spec.size * 3:
            raise ModelFileError(f"hashed table has {len(hashed)} values, "
                                 f"expected {spec.size * 3}")
        if len(dense) != len(_DENSE) * 3:
            raise ModelFileError(f"dense table has {len(dense)} values, "
                                 f"expected {len(_DENSE) * 3}")
        if spec.clusters and clusters is None:
            raise ModelFileError("the model reads word clusters and has no cluster table")
        self.spec = spec
        self.clusters = clusters if spec.clusters else None
        # int16 weights of each class, by bucket (value × scale[class]); the file stores
        # them row-major (bucket, class).
        self.columns = (hashed[0::3], hashed[1::3], hashed[2::3])
        self.scale = scale
        self.dense = dense  # float32, row-major (feature, class)
        self.intercept = intercept
        self.mask = spec.size - 1
        self.memo: dict[str, _Entry] = {}
        self.resets = 0
        self.rows = {name: self.weight(spec.size + k) for k, name in enumerate(_DENSE)}

    def weight(self, index: int) -> tuple[float, float, float]:
        """The three class weights of one feature index."""
        size = self.spec.size
        if index < size:
            q0, q1, q2 = self.columns
            s = self.scale
            return q0[index] * s[0], q1[index] * s[1], q2[index] * s[2]
        d = self.dense
        i = 3 * (index - size)
        return d[i], d[i + 1], d[i + 2]

    def _dot(self, feats: Iterable[tuple[int, float]]) -> tuple[float, float, float]:
        a = b = c = 0.0
        weight = self.weight
        for index, value in feats:
            w0, w1, w2 = weight(index)
            a += w0 * value
            b += w1 * value
            c += w2 * value
        return a, b, c

    def _entry(self, token: str, view: LexiconView) -> _Entry:
        """Memo entry of one spelling: its summed logit contributions, its parts of a
        bigram bucket and whether the lexicon gives it a valence."""
        memo = self.memo
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
            self.resets += 1
        h, feats = token_features(token, view, self.spec, self.clusters)
        value = view.valence(token)
        a, b, c = self._dot(feats)
        mask = self.mask
        entry = (a, b, c, (h * _BIGRAM_MUL) & mask, h & mask, value is not None and value != 0.0)
        memo[token] = entry
        return entry

    def logits_explicit(self, doc: Doc, lexicon_score: float, view: LexiconView
                        ) -> tuple[float, float, float]:
        """Logits from the explicit feature list (no memo): the reference for tests."""
        a, b, c = self._dot(features(doc, lexicon_score, view, self.spec, self.clusters))
        i0, i1, i2 = self.intercept
        return a + i0, b + i1, c + i2

    def logits(self, doc: Doc, lexicon_score: float, view: LexiconView
               ) -> tuple[float, float, float]:
        """The three class logits (negative, neutral, positive) of a prepared message.

        Same value as `logits_explicit` (summed in another order): token entries come
        from the memo read with C-level `map` and are summed by column with `zip(*...)`;
        word pairs are read from the per-class columns with one `itemgetter`; the dense
        features use weights unpacked at load."""
        tokens = doc.tokens
        entries: list[_Entry | None] = list(map(self.memo.get, tokens))
        if None in entries:
            entries = [self._entry(token, view) if entry is None else entry
                       for token, entry in zip(tokens, entries, strict=True)]
        a, b, c = self.intercept
        sentiment_word = False
        if entries:
            ca, cb, cc, lefts, rights, flags = zip(*entries, strict=True)
            a += sum(ca)
            b += sum(cb)
            c += sum(cc)
            sentiment_word = True in flags
            if self.spec.bigrams and len(tokens) > 1:
                buckets = map(xor, lefts, rights[1:])  # one per word pair
                pick = itemgetter(*buckets, 0)  # a tuple even for one pair; bucket 0 last
                q0, q1, q2 = self.columns
                s0, s1, s2 = self.scale
                a += (sum(pick(q0)) - q0[0]) * s0
                b += (sum(pick(q1)) - q1[0]) * s1
                c += (sum(pick(q2)) - q2[0]) * s2
        x, y, z = self._message_logits(doc, lexicon_score, sentiment_word)
        return a + x, b + y, c + z

    def _message_logits(self, doc: Doc, score: float, sentiment_word: bool
                        ) -> tuple[float, float, float]:
        """`message_features` times their weights, without building the feature list."""
        rows = self.rows
        a, b, c = rows["bias"]
        w0, w1, w2 = rows["lex_polarity"]
        v0, v1, v2 = rows["lex_abs"]
        magnitude = abs(score)
        a += w0 * score + v0 * magnitude
        b += w1 * score + v1 * magnitude
        c += w2 * score + v2 * magnitude
        extra: list[tuple[str, float]] = []
        if score > BAND:
            extra.append(("lex_positive", 1.0))
        elif score < -BAND:
            extra.append(("lex_negative", 1.0))
        norm = doc.norm
        bangs = norm.count("!")
        if bangs:
            extra.append(("exclamations", min(bangs, 4) / 4))
        elif "?" in norm:
            extra.append(("question", 1.0))
        caps = _caps_words(doc.raw)
        if caps:
            extra.append(("caps_words", caps / 3))
        if not sentiment_word:
            extra.append(("no_sentiment_word", 1.0))
        for name, value in extra:
            w0, w1, w2 = rows[name]
            a += w0 * value
            b += w1 * value
            c += w2 * value
        return a, b, c

    def probabilities(self, doc: Doc, lexicon_score: float, view: LexiconView
                      ) -> tuple[float, float, float]:
        """Softmax of `logits`: p(negative), p(neutral), p(positive)."""
        a, b, c = self.logits(doc, lexicon_score, view)
        top = max(a, b, c)
        ea, eb, ec = math.exp(a - top), math.exp(b - top), math.exp(c - top)
        total = ea + eb + ec
        return ea / total, eb / total, ec / total

    def polarity(self, doc: Doc, lexicon_score: float, view: LexiconView) -> float:
        """Polarity in [-1, 1] (see `polarity_of`)."""
        return polarity_of(self.probabilities(doc, lexicon_score, view))


class SentimentModels:
    """The models of one file, by language ("en", "fr"), and the file's metadata."""

    __slots__ = ("by_lang", "metadata")

    def __init__(self, by_lang: Mapping[str, SentimentModel],
                 metadata: Mapping[str, object] | None = None) -> None:
        self.by_lang = dict(by_lang)
        self.metadata = dict(metadata or {})

    def for_lang(self, lang: str) -> SentimentModel | None:
        """The model reading messages detected as `lang`, or None (lexicon)."""
        name = LANG_MODEL.get(lang)
        return self.by_lang.get(name) if name is not None else None


# --- file format: a .npz (zip of .npy arrays) read without numpy --------------------------

def load(path: Path | str = DEFAULT_PATH) -> SentimentModels:
    """Read a model file; `ModelFileError` names what is wrong (missing, corrupt, other
    feature version). Arrays are named ``meta`` and ``<lang>.{hashed,scale,dense,
    intercept}`` for each language listed in ``meta["languages"]``; a model reading word
    clusters also needs ``clusters.hashes`` (uint32), ``clusters.ids`` (uint16) and
    ``meta["clusters"]["paths"]``."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {name.removesuffix(".npy"): read_npy(archive.read(name), name)
                      for name in archive.namelist()}
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: no such file") from exc
    except NpyError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ModelFileError(f"{path}: unreadable ({exc})") from exc
    if "meta" not in arrays:
        raise ModelFileError(f"{path}: no metadata array")
    try:
        meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
        specs = {lang: Spec(**{**spec, "clusters": tuple(spec.get("clusters", ()))})
                 for lang, spec in meta["languages"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(f"{path}: bad metadata ({exc})") from exc
    if meta.get("feature_version") != FEATURE_VERSION:
        raise ModelFileError(f"{path}: feature version {meta.get('feature_version')}, "
                             f"this code reads {FEATURE_VERSION}")
    if list(meta.get("dense", [])) != list(_DENSE):
        raise ModelFileError(f"{path}: dense features differ from this code's")
    table = None
    if "clusters.hashes" in arrays:
        try:
            table = ClusterTable(arrays["clusters.hashes"], arrays.get("clusters.ids", array("H")),
                                 [str(p) for p in meta["clusters"]["paths"]])
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"{path}: bad cluster metadata ({exc})") from exc
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {exc}") from exc
    models = {}
    for lang, spec in specs.items():
        parts = {}
        for part in ("hashed", "scale", "dense", "intercept"):
            if f"{lang}.{part}" not in arrays:
                raise ModelFileError(f"{path}: missing array {lang}.{part}")
            parts[part] = arrays[f"{lang}.{part}"]
        scale, intercept = parts["scale"], parts["intercept"]
        if len(scale) != 3 or len(intercept) != 3:
            raise ModelFileError(f"{path}: {lang}: scale and intercept must hold 3 values")
        if parts["hashed"].typecode != "h":
            raise ModelFileError(f"{path}: {lang}: hashed table must be int16")
        if not all(math.isfinite(v) for v in (*scale, *intercept, *parts["dense"])):
            raise ModelFileError(f"{path}: {lang}: non-finite weights")
        try:
            models[lang] = SentimentModel(spec, parts["hashed"], (scale[0], scale[1], scale[2]),
                                          parts["dense"],
                                          (intercept[0], intercept[1], intercept[2]), table)
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {lang}: {exc}") from exc
    return SentimentModels(models, meta)
