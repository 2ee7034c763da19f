"""Optional sentiment from a transformer model the user supplies (the ``[ml]`` extra).

For teams that want accuracy over speed on offline work (``brandpulse score --model DIR``,
``bench/eval_sentiment.py --model DIR``). The live worker keeps the lexicon: a transformer
costs milliseconds per message where the worker's whole analysis has microseconds.

A model directory holds three files, all read at load so a mistake fails at once:

* ``model.onnx``: inputs ``input_ids``, ``attention_mask`` and optionally
  ``token_type_ids`` (batch × sequence, int64 or int32); its first output (or the one named
  ``logits``) is batch × classes logits.
* ``tokenizer.json``: a Hugging Face ``tokenizers`` file (``tokenizer.save(...)``).
* ``brandpulse-model.toml`` (``negative``/``neutral``/``positive`` = output index,
  ``max_length``, ``threads``), or else ``labels.json`` (a list of label names in output
  order, or Hugging Face's ``id2label`` object, or a ``config.json``-like object holding it).

No weights are ever downloaded: onnxruntime, tokenizers and numpy are imported only here,
so the rest of brandpulse runs without the extra.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CLASSES",
    "DEFAULT_MAX_LENGTH",
    "INSTALL_HINT",
    "LABELS_FILE",
    "MODEL_FILE",
    "SETTINGS_FILE",
    "TOKENIZER_FILE",
    "MissingExtraError",
    "ModelError",
    "ModelSpec",
    "SentimentModel",
    "load_model",
    "read_spec",
]

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
SETTINGS_FILE = "brandpulse-model.toml"
LABELS_FILE = "labels.json"
INSTALL_HINT = "pip install 'brandpulse[ml]'"
CLASSES = ("negative", "neutral", "positive")
DEFAULT_MAX_LENGTH = 128
MAX_THREADS = 64
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_ALIASES = {"neg": "negative", "neu": "neutral", "pos": "positive"}


class ModelError(Exception):
    """The model directory cannot be used: one line naming the file and the fix."""


class MissingExtraError(ModelError):
    """onnxruntime, tokenizers or numpy is not installed."""


@dataclass(frozen=True)
class ModelSpec:
    """Which output index is which class, and how long an input may be (in tokens)."""

    negative: int
    positive: int
    neutral: int | None = None  # a two-class model has none
    max_length: int | None = None  # None: the tokenizer's own limit, else 128
    threads: int = 1

    def index(self, label: str) -> int | None:
        return {"negative": self.negative, "neutral": self.neutral,
                "positive": self.positive}[label]


def _import_extra() -> tuple[Any, Any, Any]:
    """numpy, onnxruntime, tokenizers; a missing one is one line with the install command."""
    try:
        import numpy
        import onnxruntime
        import tokenizers
    except ImportError as exc:
        missing = exc.name or "a package"
        raise MissingExtraError(f"--model needs the optional ML packages ({missing} is not "
                                f"installed). Fix: {INSTALL_HINT}") from None
    return numpy, onnxruntime, tokenizers


def _index(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ModelError(f"{where}: {key} = {value!r} is not an output index. Fix: write the "
                         f"index (0, 1, 2…) of the model output that means {key}")
    return value


def _spec_from_toml(path: Path) -> ModelSpec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"{path}: not readable TOML ({exc}). Fix: write e.g. negative = 0, "
                         "neutral = 1, positive = 2, max_length = 128") from None
    unknown = sorted(set(data) - {"negative", "neutral", "positive", "max_length", "threads"})
    if unknown:
        raise ModelError(f"{path}: unknown key {unknown[0]!r}. Fix: keep negative, neutral, "
                         "positive, max_length, threads")
    for key in ("negative", "positive"):
        if key not in data:
            raise ModelError(f"{path}: no {key} index. Fix: add e.g. {key} = "
                             f"{0 if key == 'negative' else 2}")
    neutral = data.get("neutral")
    spec = ModelSpec(
        negative=_index(data["negative"], str(path), "negative"),
        positive=_index(data["positive"], str(path), "positive"),
        neutral=None if neutral is None else _index(neutral, str(path), "neutral"),
        max_length=(None if "max_length" not in data
                    else _positive(data["max_length"], path, "max_length")),
        threads=_positive(data.get("threads", 1), path, "threads", MAX_THREADS),
    )
    indexes = [i for i in (spec.negative, spec.neutral, spec.positive) if i is not None]
    if len(set(indexes)) != len(indexes):
        raise ModelError(f"{path}: two classes share one output index. Fix: give each of "
                         "negative, neutral, positive its own index")
    return spec


def _positive(value: Any, path: Path, key: str, most: int = 1 << 20) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ModelError(f"{path}: {key} = {value!r}. Fix: an integer from 1 to {most}")
    return value


def _spec_from_labels(path: Path) -> ModelSpec:
    """labels.json: ["negative", "neutral", "positive"], {"0": "negative", …}, or an object
    with an ``id2label`` member (a Hugging Face config.json copied as it is: its
    ``max_length`` is a generation setting, so it is not read)."""
    fix = ('Fix: write the output order, e.g. ["negative", "neutral", "positive"], or '
           f"use {SETTINGS_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not readable JSON ({exc}). {fix}") from None
    if isinstance(data, dict) and "id2label" in data:
        data = data["id2label"]
    names: dict[int, str] = {}
    if isinstance(data, list):
        names = dict(enumerate(data))
    elif isinstance(data, dict):
        for key, name in data.items():
            if not (isinstance(key, str) and key.isdigit()):
                raise ModelError(f"{path}: key {key!r} is not an output index. {fix}")
            names[int(key)] = name
    else:
        raise ModelError(f"{path}: neither a list nor an object. {fix}")
    found: dict[str, int] = {}
    for index, name in sorted(names.items()):
        label = str(name).strip().lower()
        label = _ALIASES.get(label, label)
        if label not in CLASSES:
            raise ModelError(f"{path}: output {index} is {name!r}, not negative, neutral or "
                             f"positive. {fix}")
        if label in found:
            raise ModelError(f"{path}: {label} appears twice. {fix}")
        found[label] = index
    if "negative" not in found or "positive" not in found:
        raise ModelError(f"{path}: needs a negative and a positive output. {fix}")
    return ModelSpec(negative=found["negative"], positive=found["positive"],
                     neutral=found.get("neutral"))


def read_spec(directory: Path) -> ModelSpec:
    """The label layout: brandpulse-model.toml when present, else labels.json."""
    settings, labels = directory / SETTINGS_FILE, directory / LABELS_FILE
    if settings.is_file():
        return _spec_from_toml(settings)
    if labels.is_file():
        return _spec_from_labels(labels)
    raise ModelError(f"{directory}: no {SETTINGS_FILE} nor {LABELS_FILE} saying which output "
                     f"is negative/neutral/positive. Fix: add {SETTINGS_FILE} with e.g. "
                     "negative = 0, neutral = 1, positive = 2, max_length = 128")


class SentimentModel:
    """A loaded model: tokenise, pad to the longest text of each batch, run, softmax.

    Texts are sorted by token count before batching (less padding) and results come back
    in input order; the attention mask keeps padding out of the result, so a text scores
    the same whatever batch it lands in. Built by :func:`load_model`."""

    def __init__(self, directory: Path, spec: ModelSpec, session: Any, tokenizer: Any,
                 numpy: Any, pad_id: int = 0) -> None:
        self.directory = directory
        self.spec = spec
        self._session = session
        self._tokenizer = tokenizer
        self._np = numpy
        inputs = {i.name: i for i in session.get_inputs()}
        self.input_names = tuple(inputs)
        self._dtypes = {name: numpy.int32 if i.type == "tensor(int32)" else numpy.int64
                        for name, i in inputs.items()}
        outputs = [o.name for o in session.get_outputs()]
        self._output = "logits" if "logits" in outputs else outputs[0]
        self._pad_id = pad_id
        self.classes = self._probe()

    @property
    def max_length(self) -> int:
        return self.spec.max_length or DEFAULT_MAX_LENGTH

    def probabilities(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Softmax of the logits, one row per text (a text without any token: a row of
        NaN, never sent to the model)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        np = self._np
        encoded = [self._encode(t) for t in texts]
        result = np.full((len(encoded), self.classes), np.nan, dtype=np.float64)
        order = sorted((i for i, e in enumerate(encoded) if e[0]),
                       key=lambda i: len(encoded[i][0]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            result[chunk] = self._run([encoded[i] for i in chunk])
        return result

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[float]:
        """Polarity in [-1, 1] per text: p(positive) - p(negative); 0.0 for a text with no
        token."""
        probs = self.probabilities(texts, batch_size)
        neg, pos = self.spec.negative, self.spec.positive
        return [0.0 if math.isnan(row[pos]) else max(-1.0, min(1.0, float(row[pos] - row[neg])))
                for row in probs]

    def predict_labels(self, texts: Sequence[str], batch_size: int = 32) -> list[str]:
        """negative/neutral/positive: the most probable of the classes the spec names
        ("neutral" for a text with no token; a two-class model never says neutral)."""
        probs = self.probabilities(texts, batch_size)
        named = [(label, index) for label in CLASSES
                 if (index := self.spec.index(label)) is not None]
        return ["neutral" if math.isnan(row[0]) else max(named, key=lambda c: row[c[1]])[0]
                for row in probs]

    def _encode(self, text: str) -> tuple[list[int], list[int]]:
        """Token ids and type ids, at most max_length (the tokenizer truncates; the cut
        here only guards a tokenizer whose post-processor adds more)."""
        if not isinstance(text, str):
            text = "" if text is None else str(text)
        try:
            encoding = self._tokenizer.encode(text)
        except Exception:  # a lone surrogate cannot cross into Rust: replace it
            encoding = self._tokenizer.encode(text.encode("utf-8", "replace").decode())
        limit = self.max_length
        return list(encoding.ids[:limit]), list(encoding.type_ids[:limit])

    def _feed(self, batch: list[tuple[list[int], list[int]]]) -> dict[str, Any]:
        """The padded arrays named as the graph declares them."""
        np = self._np
        longest = max(len(ids) for ids, _ in batch)
        ids = np.full((len(batch), longest), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), longest), dtype=np.int64)
        types = np.zeros((len(batch), longest), dtype=np.int64)
        for row, (tokens, type_ids) in enumerate(batch):
            ids[row, :len(tokens)] = tokens
            mask[row, :len(tokens)] = 1
            types[row, :len(type_ids)] = type_ids
        arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: arrays[name].astype(self._dtypes[name], copy=False)
                for name in self.input_names}

    def _run(self, batch: list[tuple[list[int], list[int]]]) -> np.ndarray:
        np = self._np
        logits = np.asarray(self._session.run([self._output], self._feed(batch))[0],
                            dtype=np.float64)
        if logits.ndim != 2 or logits.shape[0] != len(batch):
            raise ModelError(f"{self.directory / MODEL_FILE}: output {self._output!r} has "
                             f"shape {logits.shape}, not batch × classes. Fix: export the "
                             "classification logits")
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def _probe(self) -> int:
        """Run one text at load: the graph must accept the inputs and give batch × classes
        logits covering every index the spec names (else the first real batch would fail,
        not the load). Returns the number of classes."""
        model_path = self.directory / MODEL_FILE
        ids = self._encode("ok")[0] or [self._pad_id]
        try:
            logits = self._np.asarray(self._session.run(
                [self._output], self._feed([(ids, [0] * len(ids))]))[0])
        except Exception as exc:
            raise ModelError(f"{model_path}: a probe text failed to run ({_short(exc)}). "
                             "Fix: export a text-classification model taking input_ids and "
                             "attention_mask") from None
        spec = self.spec
        needed = max(i for i in (spec.negative, spec.neutral, spec.positive) if i is not None)
        if logits.ndim != 2 or logits.shape[0] != 1:
            raise ModelError(f"{model_path}: output {self._output!r} has shape "
                             f"{tuple(logits.shape)} for one text, not 1 × classes. Fix: "
                             "export the classification logits")
        if logits.shape[1] <= needed:
            settings = self.directory / SETTINGS_FILE
            where = settings if settings.is_file() else self.directory / LABELS_FILE
            raise ModelError(f"{where}: names output index {needed} but the model gives "
                             f"{logits.shape[1]} classes. Fix: match the indexes to the "
                             "model's outputs")
        return int(logits.shape[1])


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _pad_id(tokenizer: Any) -> int:
    """The tokenizer's own padding id, else [PAD]/<pad>'s id, else 0 (masked out anyway)."""
    padding = tokenizer.padding
    if padding and isinstance(padding.get("pad_id"), int):
        return int(padding["pad_id"])
    for token in ("[PAD]", "<pad>", "<PAD>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return 0


def load_model(directory: str | Path, threads: int | None = None) -> SentimentModel:
    """Load and check a model directory; every mistake is a :class:`ModelError` naming the
    file and the fix. ``threads`` (default: the settings' ``threads``, else 1) bounds
    onnxruntime's intra-op pool; the inter-op pool is one thread."""
    np, ort, tokenizers = _import_extra()
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise ModelError(f"{directory}: no such model directory. Fix: give a directory "
                         f"holding {MODEL_FILE}, {TOKENIZER_FILE} and {SETTINGS_FILE} or "
                         f"{LABELS_FILE}")
    model_path, tokenizer_path = root / MODEL_FILE, root / TOKENIZER_FILE
    for path, fix in ((model_path, "export the model to ONNX (e.g. optimum-cli export onnx) "
                                   "and put it there"),
                      (tokenizer_path, "save the model's tokenizer with the tokenizers "
                                       "library (tokenizer.save) and put it there")):
        if not path.is_file():
            raise ModelError(f"{path}: missing. Fix: {fix}")
    spec = read_spec(root)
    if threads is not None:
        if not 1 <= threads <= MAX_THREADS:
            raise ModelError(f"threads = {threads}. Fix: an integer from 1 to {MAX_THREADS}")
        spec = dataclasses.replace(spec, threads=threads)
    try:
        tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:
        raise ModelError(f"{tokenizer_path}: not a Hugging Face tokenizers file "
                         f"({_short(exc)}). Fix: save it with "
                         "tokenizer.save(path) from the tokenizers library") from None
    pad_id = _pad_id(tokenizer)
    if spec.max_length is None:  # the tokenizer's own limit (512 for most BERTs), else 128
        own = (tokenizer.truncation or {}).get("max_length")
        spec = dataclasses.replace(spec, max_length=own if isinstance(own, int) and own > 0
                                   else DEFAULT_MAX_LENGTH)
    tokenizer.no_padding()  # padding is done per batch here, to the longest text
    # Its own truncation keeps room for the special tokens ([CLS] … [SEP]).
    tokenizer.enable_truncation(spec.max_length)
    options = ort.SessionOptions()
    options.intra_op_num_threads = spec.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: a warning per run would flood stderr
    try:
        session = ort.InferenceSession(str(model_path), sess_options=options,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{model_path}: not a usable ONNX model "
                         f"({_short(exc)}). Fix: export it again "
                         "(e.g. optimum-cli export onnx --task text-classification)") from None
    names = [i.name for i in session.get_inputs()]
    unknown = [n for n in names if n not in KNOWN_INPUTS]
    if unknown or "input_ids" not in names:
        raise ModelError(f"{model_path}: inputs {names}; brandpulse feeds input_ids, "
                         "attention_mask and token_type_ids. Fix: export a text-"
                         "classification model with those input names")
    return SentimentModel(root, spec, session, tokenizer, np, pad_id)
