"""The [ml] extra: a user's ONNX model, loaded, checked and batched, on a tiny model the
tests build themselves (tests/unit/ml_tiny.py). onnxruntime is imported directly: without
the extra these tests fail (CI installs `.[dev,ml]`), they never skip."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnxruntime  # noqa: F401  (a missing extra fails here, not as a skip)
import orjson
import pytest
from tokenizers import Tokenizer

from streams.cli import main
from streams.commands.ml import INSTALL_HINT, MissingExtraError, ModelError, load_model
from tests.unit.ml_tiny import build_model_dir

TEXTS = ["the movie was good", "bad service", "the flight", "Good GOOD", "really bad bad",
         "the service was okay but the flight was bad", "", "zzz unknown words",
         "good and bad", "very very very very very very very good", "   ", "\ud800 bad"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("ml") / "tiny")


def test_predictions_follow_the_words(model_dir: Path) -> None:
    model = load_model(model_dir)
    scores = dict(zip(TEXTS, model.predict(TEXTS), strict=True))
    assert scores["the movie was good"] > 0.5
    assert scores["bad service"] < -0.5
    assert scores["the flight"] == pytest.approx(0.0, abs=1e-9)  # neutral words only
    assert scores["the service was okay but the flight was bad"] < 0  # bad outweighs
    assert scores[""] == 0.0 and scores["   "] == 0.0  # no token: no evidence
    assert scores["\ud800 bad"] < -0.5  # a lone surrogate is replaced, not a crash
    assert all(-1.0 <= s <= 1.0 for s in scores.values())
    labels = dict(zip(TEXTS, model.predict_labels(TEXTS), strict=True))
    assert labels["Good GOOD"] == "positive" and labels["really bad bad"] == "negative"
    assert labels["zzz unknown words"] == "neutral" and labels[""] == "neutral"
    probs = model.probabilities(["good"])
    assert probs.shape == (1, 3) and probs[0].sum() == pytest.approx(1.0)


def test_batch_size_and_neighbours_never_change_a_score(model_dir: Path) -> None:
    model = load_model(model_dir)
    reference = [model.predict([text])[0] for text in TEXTS]  # each alone, no padding
    for batch_size in (1, 3, 32):
        assert model.predict(TEXTS, batch_size=batch_size) == pytest.approx(
            reference, abs=1e-6), batch_size
    assert model.predict([*TEXTS, *TEXTS], batch_size=5)[len(TEXTS):] == pytest.approx(
        reference, abs=1e-6)
    assert model.predict([]) == []


def test_the_attention_mask_is_what_keeps_padding_out(tmp_path: Path) -> None:
    """The same graph averaging over padding too: a short text next to a long one scores
    differently, so the batching test above would catch a missing mask."""
    unmasked = load_model(build_model_dir(tmp_path / "plain", masked=False))
    short, long = "good", "the movie was really very okay and the flight was okay"
    alone = unmasked.predict([short])[0]
    assert unmasked.predict([short, long], batch_size=2)[0] < alone - 0.1


def test_truncation_at_max_length(tmp_path: Path, model_dir: Path) -> None:
    short = load_model(build_model_dir(tmp_path / "short", max_length=2))
    assert short.max_length == 2
    assert short.predict(["the movie good"])[0] == pytest.approx(0.0, abs=1e-9)  # cut
    assert load_model(model_dir).predict(["the movie good"])[0] > 0.5
    huge = "the " * 25_000 + "good"  # 100 kB: tokenised, truncated, never a crash
    mixed = load_model(model_dir).predict([huge, "x" * 100_000, "good"], batch_size=3)
    assert mixed[0] == pytest.approx(0.0, abs=1e-9) and mixed[2] > 0.5


def test_labels_json_and_optional_token_type_ids(tmp_path: Path) -> None:
    model = load_model(build_model_dir(tmp_path / "json", labels="json",
                                       token_type_ids=True))
    assert model.input_names == ("input_ids", "attention_mask", "token_type_ids")
    assert model.predict(["good", "bad"]) == pytest.approx([0.99, -0.99], abs=0.01)
    assert model.max_length == 128  # neither the tokenizer nor labels.json sets one
    # A Hugging Face config.json as it is: id2label read, its (generation) max_length not.
    (tmp_path / "json" / "labels.json").write_text(json.dumps(
        {"id2label": {"0": "NEGATIVE", "2": "POSITIVE"}, "max_length": 3}))
    tokenizer = Tokenizer.from_file(str(tmp_path / "json" / "tokenizer.json"))
    tokenizer.enable_truncation(3)  # the tokenizer's own limit is the default
    tokenizer.save(str(tmp_path / "json" / "tokenizer.json"))
    two_class = load_model(tmp_path / "json")
    assert two_class.spec.neutral is None and two_class.max_length == 3
    assert two_class.predict_labels(["good", "bad"]) == ["positive", "negative"]
    assert two_class.predict(["the movie was good"])[0] == pytest.approx(0.0, abs=1e-9)
    int32 = load_model(build_model_dir(tmp_path / "int32", dtype=6))  # TensorProto.INT32
    assert int32.predict(["good"])[0] > 0.5


def test_threads_are_bounded(model_dir: Path) -> None:
    assert load_model(model_dir).spec.threads == 1
    assert load_model(model_dir, threads=2).spec.threads == 2
    with pytest.raises(ModelError, match="threads"):
        load_model(model_dir, threads=0)


def _broken(tmp_path: Path, name: str) -> Path:
    return build_model_dir(tmp_path / name)


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda d: (d / "model.onnx").unlink(), r"model\.onnx: missing\. Fix: export"),
    (lambda d: (d / "tokenizer.json").unlink(), r"tokenizer\.json: missing\. Fix:"),
    (lambda d: (d / "brandpulse-model.toml").unlink(),
     r"no brandpulse-model\.toml nor labels\.json .* Fix: add"),
    (lambda d: (d / "model.onnx").write_bytes(b"not a model"),
     r"model\.onnx: not a usable ONNX model .* Fix:"),
    (lambda d: (d / "tokenizer.json").write_text("{}"),
     r"tokenizer\.json: not a Hugging Face tokenizers file .* Fix:"),
    (lambda d: (d / "brandpulse-model.toml").write_text("negative = 0\n"),
     r"brandpulse-model\.toml: no positive index\. Fix:"),
    (lambda d: (d / "brandpulse-model.toml").write_text("negative = 0\npositive = 7\n"),
     r"names output index 7 but the model gives 3 classes\. Fix:"),
    (lambda d: (d / "brandpulse-model.toml").write_text("negative = 0\npositive = 0\n"),
     r"two classes share one output index"),
    (lambda d: (d / "brandpulse-model.toml").write_text("negative = 0\npositive = 2\n"
                                                        "max_length = 0\n"),
     r"max_length = 0\. Fix: an integer"),
    (lambda d: (d / "brandpulse-model.toml").write_text("negative = 0\npositive = 2\n"
                                                        "maxlen = 5\n"),
     r"unknown key 'maxlen'"),
    (lambda d: (d / "brandpulse-model.toml").write_text("negative = [\n"),
     r"not readable TOML"),
])
def test_each_loading_mistake_names_the_file_and_the_fix(tmp_path: Path, damage: object,
                                                         expected: str) -> None:
    directory = build_model_dir(tmp_path / "m")
    damage(directory)  # type: ignore[operator]
    with pytest.raises(ModelError, match=expected) as info:
        load_model(directory)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("labels", "expected"), [
    ('["negative", "neutral", "LABEL_2"]', r"output 2 is 'LABEL_2', not negative"),
    ('["negative", "negative", "positive"]', r"negative appears twice"),
    ('["neutral", "positive"]', r"needs a negative and a positive output"),
    ('{"zero": "negative"}', r"key 'zero' is not an output index"),
    ('"negative"', r"neither a list nor an object"),
    ("[negative", r"not readable JSON"),
])
def test_bad_labels_json(tmp_path: Path, labels: str, expected: str) -> None:
    directory = build_model_dir(tmp_path / "m", labels="json")
    (directory / "labels.json").write_text(labels)
    with pytest.raises(ModelError, match=expected):
        load_model(directory)


def test_unexpected_graph_inputs_are_refused(tmp_path: Path) -> None:
    directory = build_model_dir(tmp_path / "m", input_names=("ids", "mask"))
    with pytest.raises(ModelError, match=r"inputs \['ids', 'mask'\].* Fix: export"):
        load_model(directory)


def test_missing_extra_is_one_line_with_the_install_command(
        model_dir: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    with pytest.raises(MissingExtraError, match=r"onnxruntime is not installed.*Fix: pip "
                                                r"install 'brandpulse\[ml\]'"):
        load_model(model_dir)
    text = model_dir.parent / "texts.txt"
    text.write_text("good\n")
    assert main(["score", str(text), "--model", str(model_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and INSTALL_HINT in captured.err


def test_score_with_a_model(model_dir: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["the movie was good", "bad service", "", "the flight"] * 100  # > one chunk
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["score", str(source), "--model", str(model_dir), "--with-text"]) == 0
    rows = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in rows] == list(range(1, len(lines) + 1))
    assert [r["text"] for r in rows] == lines
    assert {"lang", "crisis_terms", "crisis", "promotional", "jokey"} <= set(rows[0])
    assert rows[0]["sentiment"] > 0.5 and rows[1]["sentiment"] < -0.5
    assert rows[2]["sentiment"] == 0.0 and rows[3]["sentiment"] == 0.0
    assert rows[400 - 4]["sentiment"] == rows[0]["sentiment"]


def test_score_with_a_bad_model_dir_is_one_line_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("good\n")
    directory = build_model_dir(tmp_path / "m")
    (directory / "tokenizer.json").unlink()
    assert main(["score", str(source), "--model", str(directory)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tokenizer.json: missing. Fix:" in err
    assert main(["score", str(source), "--model", str(tmp_path / "absent")]) == 2
    assert "no such model directory" in capsys.readouterr().err
