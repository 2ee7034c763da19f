"""A tiny sentiment model built from nothing, for the [ml] tests and the overhead figures.

A WordLevel tokenizer (lower-cased, whitespace split) and an ONNX graph:
embedding Gather → mean over the attention mask → MatMul → logits. "good" points at the
positive class, "bad" at the negative one, every other word at neutral, so predictions are
real: a mixed text leans to whichever word dominates its average. No weights downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

WORDS = ("the", "movie", "was", "service", "flight", "and", "but", "very", "really", "okay")
VOCAB = {"[PAD]": 0, "[UNK]": 1, "good": 2, "bad": 3,
         **{word: index for index, word in enumerate(WORDS, start=4)}}
LABELS = ["negative", "neutral", "positive"]


def _embeddings() -> np.ndarray:
    table = np.zeros((len(VOCAB), 3), dtype=np.float32)  # [PAD] stays zero
    table[VOCAB["[UNK]"]] = [0.0, 1.0, 0.0]
    table[VOCAB["good"]] = [0.0, 0.0, 8.0]
    table[VOCAB["bad"]] = [8.0, 0.0, 0.0]
    for word in WORDS:
        table[VOCAB[word]] = [0.0, 1.0, 0.0]
    return table


def build_tokenizer(path: Path) -> None:
    tokenizer = Tokenizer(models.WordLevel(vocab=VOCAB, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))


def build_graph(path: Path, *, masked: bool = True, token_type_ids: bool = False,
                input_names: tuple[str, str] = ("input_ids", "attention_mask"),
                dtype: int = TensorProto.INT64) -> None:
    """masked=False: a plain mean over every position, padding included (what a graph that
    ignores the mask computes); token_type_ids: a third input added through a zero table."""
    ids_name, mask_name = input_names
    inputs = [helper.make_tensor_value_info(ids_name, dtype, ["batch", "seq"]),
              helper.make_tensor_value_info(mask_name, dtype, ["batch", "seq"])]
    init = [numpy_helper.from_array(_embeddings(), "embedding"),
            numpy_helper.from_array(np.eye(3, dtype=np.float32) * 4.0, "classifier"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1e-9], dtype=np.float32), "eps")]
    nodes = [helper.make_node("Gather", ["embedding", ids_name], ["emb"], axis=0)]
    embedded = "emb"
    if token_type_ids:
        inputs.append(helper.make_tensor_value_info("token_type_ids", dtype, ["batch", "seq"]))
        init.append(numpy_helper.from_array(np.zeros((2, 3), dtype=np.float32), "types"))
        nodes += [helper.make_node("Gather", ["types", "token_type_ids"], ["type_emb"], axis=0),
                  helper.make_node("Add", ["emb", "type_emb"], ["emb_typed"])]
        embedded = "emb_typed"
    if masked:
        nodes += [
            helper.make_node("Cast", [mask_name], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
            helper.make_node("Mul", [embedded, "mask3"], ["masked"]),
            helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["mask3", "axis1"], ["count"], keepdims=0),
            helper.make_node("Max", ["count", "eps"], ["count_safe"]),
            helper.make_node("Div", ["summed", "count_safe"], ["pooled"]),
        ]
    else:
        nodes.append(helper.make_node("ReduceMean", [embedded], ["pooled"], axes=[1],
                                      keepdims=0))
    nodes.append(helper.make_node("MatMul", ["pooled", "classifier"], ["logits"]))
    graph = helper.make_graph(
        nodes, "tiny_sentiment", inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              ir_version=8, producer_name="brandpulse-tests")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_model_dir(directory: Path, *, max_length: int = 64, labels: str = "toml",
                    **graph: object) -> Path:
    """A complete model directory; labels="toml" writes brandpulse-model.toml, "json"
    labels.json, anything else neither."""
    directory.mkdir(parents=True, exist_ok=True)
    build_tokenizer(directory / "tokenizer.json")
    build_graph(directory / "model.onnx", **graph)  # type: ignore[arg-type]
    if labels == "toml":
        (directory / "brandpulse-model.toml").write_text(
            f"negative = 0\nneutral = 1\npositive = 2\nmax_length = {max_length}\n")
    elif labels == "json":
        (directory / "labels.json").write_text(json.dumps(LABELS))
    return directory
