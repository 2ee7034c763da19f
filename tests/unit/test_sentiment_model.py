"""The trained sentiment model (issue 22): hand-computed logits of a tiny model, stable
hashing, the file format, the fallback to the lexicon, and the shipped model's wiring."""

from __future__ import annotations

import ast
import glob
import json
import math
import os
import subprocess
import sys
import tomllib
import zipfile
from array import array
from pathlib import Path

import pytest

from streams.commands.scoring import score_text
from streams.core import sentiment
from streams.core import sentiment_model as sm
from streams.core.text import prepare

REPO = Path(__file__).resolve().parents[2]
TINY = sm.Spec(bits=4, char_min=3, char_max=0, bigrams=True)
DENSE = sm.dense_names()
VALENCES = {"good": 2.0, "bad": -2.0}
VIEW = sm.LexiconView(VALENCES.get, frozenset({"not"}), {"very": 0.293})


def _tiny_model(bias: float = 1.0) -> sm.SentimentModel:
    """Hashed weights zero except the unigram bucket of "bad" (crc32 & 15 = 11), which
    weighs (2, 0, 0) at scale 0.5; dense: bias (0, `bias`, 0), positive words (0, 0, 1.5).
    Everything else weighs nothing."""
    hashed = array("h", [0] * (TINY.size * 3))
    hashed[3 * 11] = 4  # × scale 0.5 → 2.0 on "negative"
    dense = array("f", [0.0] * (len(DENSE) * 3))
    dense[3 * DENSE.index("bias") + 1] = bias
    dense[3 * DENSE.index("lex_pos_words") + 2] = 1.5
    return sm.SentimentModel(TINY, hashed, (0.5, 0.5, 0.5), dense, (0.0, 0.0, 0.0))


def test_hashing_is_crc32_stable_across_processes() -> None:
    # Constants computed once by hand (zlib.crc32 of b"u\x00bad"), not by hash().
    h, feats = sm.token_features("bad", VIEW, TINY)
    assert h == 2323281995 and feats[0] == (11, 1.0)
    code = ("from streams.core import sentiment_model as sm;"
            "print(sm.token_features('bad', sm.LexiconView({}.get, frozenset(), {}),"
            " sm.Spec())[0])")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONHASHSEED": seed},
                             cwd=REPO)
        assert out.stdout.strip() == "2323281995"


def test_tiny_model_logits_by_hand() -> None:
    model = _tiny_model()
    doc = prepare("good good")
    # bias 1 → neutral +1; two positive lexicon words × 1.5 → positive +3.
    assert model.logits(doc, 0.5, VIEW) == pytest.approx((0.0, 1.0, 3.0))
    assert model.logits_explicit(doc, 0.5, VIEW) == pytest.approx((0.0, 1.0, 3.0))
    total = 1 + math.e + math.e**3
    p = (1 / total, math.e / total, math.e**3 / total)
    assert model.probabilities(doc, 0.5, VIEW) == pytest.approx(p)
    assert model.polarity(doc, 0.5, VIEW) == pytest.approx(0.05 + 0.95 * (p[2] - p[0]))
    # "bad": its unigram bucket gives negative 2.0 > neutral 1.0.
    assert model.logits(prepare("bad"), -0.5, VIEW) == pytest.approx((2.0, 1.0, 0.0))
    assert sentiment.sentiment_label(model.polarity(prepare("bad"), -0.5, VIEW)) == "negative"
    # Second time through the memo: same logits.
    assert model.logits(prepare("bad"), -0.5, VIEW) == pytest.approx((2.0, 1.0, 0.0))


def test_languages_pick_their_model() -> None:
    en, fr = _tiny_model(1.0), _tiny_model(0.0)
    models = sm.SentimentModels({"en": en, "fr": fr})
    assert models.for_lang("en") is en and models.for_lang("und") is en
    assert models.for_lang("fr") is fr and models.for_lang("other") is None
    assert sm.SentimentModels({"en": en}).for_lang("fr") is None
    assert fr.logits(prepare("bad"), -0.5, VIEW) == pytest.approx((2.0, 0.0, 0.0))


def test_polarity_label_is_the_most_probable_class() -> None:
    assert sm.polarity_of((0.2, 0.5, 0.3)) == pytest.approx(0.05 * 0.1)
    assert sm.polarity_of((0.1, 0.2, 0.7)) == pytest.approx(0.05 + 0.95 * 0.6)
    assert sm.polarity_of((0.45, 0.1, 0.45 - 1e-9)) < -0.05
    for p in [(0.34, 0.33, 0.33), (0.33, 0.34, 0.33), (0.33, 0.33, 0.34), (0.0, 1.0, 0.0)]:
        label = sentiment.sentiment_label(sm.polarity_of(p))
        assert label == sm.CLASSES[p.index(max(p))]


def _npy(values: array) -> bytes:
    descr = {"b": "|i1", "B": "|u1", "h": "<i2", "H": "<u2", "I": "<u4",
             "f": "<f4"}[values.typecode]
    header = repr({"descr": descr, "fortran_order": False, "shape": (len(values),)})
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
            + values.tobytes())


def _interleaved(model: sm.SentimentModel) -> array:
    """The hashed weights as the file stores them: row-major (bucket, class)."""
    q0, q1, q2 = model.columns
    return array("h", [v for row in zip(q0, q1, q2, strict=True) for v in row])


def _meta(spec: sm.Spec = TINY, **changes: object) -> dict[str, object]:
    meta: dict[str, object] = {"feature_version": sm.FEATURE_VERSION, "dense": list(DENSE),
                               "languages": {"en": spec.__dict__}}
    meta.update(changes)
    return meta


def _write(path: Path, model: sm.SentimentModel, meta: dict[str, object] | None = None,
           skip: str = "") -> None:
    arrays = {"meta": array("B", json.dumps(meta or _meta()).encode()),
              "en.hashed": _interleaved(model), "en.scale": array("f", model.scale),
              "en.dense": model.dense, "en.intercept": array("f", model.intercept)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, values in arrays.items():
            if name != skip:
                archive.writestr(f"{name}.npy", _npy(values))


def test_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    _write(path, _tiny_model())
    loaded = sm.load(path)
    assert set(loaded.by_lang) == {"en"} and loaded.by_lang["en"].spec == TINY
    assert loaded.by_lang["en"].logits(prepare("good good"), 0.5, VIEW) == pytest.approx(
        (0, 1, 3))


def test_numpy_written_file_reads_the_same(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    model = _tiny_model()
    path = tmp_path / "m.npz"
    np.savez_compressed(path, meta=np.frombuffer(json.dumps(_meta()).encode(), dtype=np.uint8),
                        **{"en.hashed": np.array(_interleaved(model), dtype=np.int16),
                           "en.scale": np.array(model.scale, dtype=np.float32),
                           "en.dense": np.array(model.dense, dtype=np.float32),
                           "en.intercept": np.zeros(3, dtype=np.float32)})
    loaded = sm.load(path).by_lang["en"]
    assert loaded.logits(prepare("bad"), -0.5, VIEW) == pytest.approx((2, 1, 0))


CLUSTERED = sm.Spec(bits=4, char_min=3, char_max=0, bigrams=False, clusters=(2, 8))
CLUSTER_WORDS = {"great": "0110", "gr8": "0110", "awful": "1110", "#blessed": "0111"}


def _cluster_table() -> sm.ClusterTable:
    paths = sorted(set(CLUSTER_WORDS.values()))
    pairs = sorted((sm.ClusterTable.word_hash(w), paths.index(p))
                   for w, p in CLUSTER_WORDS.items())
    return sm.ClusterTable(array("I", [h for h, _ in pairs]), array("H", [i for _, i in pairs]),
                           paths)


def test_cluster_table_lookup() -> None:
    table = _cluster_table()
    assert table.path("great") == table.path("gr8") == "0110"
    assert table.path("awful") == "1110" and table.path("meh") is None
    assert table.path("#great") == "0110"  # a hashtag absent from the table: its body
    assert table.path("#blessed") == "0111"
    assert table.path("@great") is None and table.path("http://t.co/great") is None
    with pytest.raises(sm.ModelFileError, match="sorted"):
        sm.ClusterTable(array("I", [5, 3]), array("H", [0, 0]), ["0"])
    with pytest.raises(sm.ModelFileError, match="past the path list"):
        sm.ClusterTable(array("I", [3, 5]), array("H", [0, 1]), ["0"])


def test_cluster_features_share_weights_between_words_of_a_cluster(tmp_path: Path) -> None:
    table = _cluster_table()
    # Prefixes of "0110" of lengths 2 and 8 (the whole path): two hashed features.
    _, feats = sm.token_features("gr8", VIEW, CLUSTERED, table)
    assert len(feats) == 3
    assert sm.token_features("gr8", VIEW, CLUSTERED, table)[1][1:] == \
        sm.token_features("great", VIEW, CLUSTERED, table)[1][1:]
    assert len(sm.token_features("gr8", VIEW, CLUSTERED)[1]) == 1  # no table: no clusters
    hashed = array("h", [0] * (CLUSTERED.size * 3))
    for index, _ in feats[1:]:
        hashed[3 * index + 2] += 2  # positive, × scale 0.5
    dense = array("f", [0.0] * (len(DENSE) * 3))
    with pytest.raises(sm.ModelFileError, match="cluster table"):
        sm.SentimentModel(CLUSTERED, hashed, (0.5, 0.5, 0.5), dense, (0.0, 0.0, 0.0))
    model = sm.SentimentModel(CLUSTERED, hashed, (0.5, 0.5, 0.5), dense, (0.0, 0.0, 0.0), table)
    doc = prepare("so gr8")
    unigram = model.weight(sm.token_features("gr8", VIEW, CLUSTERED, table)[1][0][0])
    assert model.logits(doc, 0.0, VIEW) == pytest.approx(model.logits_explicit(doc, 0.0, VIEW))
    assert model.logits(doc, 0.0, VIEW)[2] - unigram[2] >= 2.0 - 1e-9
    # The file keeps the table: same logits after a round trip.
    path = tmp_path / "m.npz"
    meta = _meta(CLUSTERED, clusters={"paths": list(table.paths)})
    arrays = {"meta": array("B", json.dumps(meta).encode()), "en.hashed": hashed,
              "en.scale": array("f", model.scale), "en.dense": dense,
              "en.intercept": array("f", [0.0, 0.0, 0.0]), "clusters.hashes": table.hashes,
              "clusters.ids": table.ids}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, values in arrays.items():
            archive.writestr(f"{name}.npy", _npy(values))
    loaded = sm.load(path).by_lang["en"]
    assert loaded.spec == CLUSTERED and loaded.clusters is not None
    assert loaded.logits(doc, 0.0, VIEW) == pytest.approx(model.logits(doc, 0.0, VIEW))
    with zipfile.ZipFile(path, "w") as archive:
        for name, values in arrays.items():
            if not name.startswith("clusters."):
                archive.writestr(f"{name}.npy", _npy(values))
    with pytest.raises(sm.ModelFileError, match="cluster table"):
        sm.load(path)


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "no-dense",
                                    "other-version", "other-features", "wrong-size"])
def test_bad_files_are_refused_with_a_reason(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "m.npz"
    model = _tiny_model()
    if damage == "garbage":
        path.write_bytes(b"not a zip at all")
    elif damage == "truncated":
        _write(path, model)
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "no-dense":
        _write(path, model, skip="en.dense")
    elif damage == "other-version":
        _write(path, model, _meta(feature_version=99))
    elif damage == "other-features":
        _write(path, model, _meta(dense=["bias"]))
    elif damage == "wrong-size":
        _write(path, model, _meta(sm.Spec(bits=5)))
    with pytest.raises(sm.ModelFileError, match=str(path)):
        sm.load(path)


def test_missing_or_corrupt_model_falls_back_to_the_lexicon(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 corrupt")
    for target in (tmp_path / "absent.npz", broken):
        monkeypatch.setenv("BRANDPULSE_SENTIMENT_MODEL", str(target))
        assert sentiment._load_model() is None
        assert str(target) in caplog.text
    monkeypatch.setenv("BRANDPULSE_SENTIMENT_MODEL", "lexicon")
    assert sentiment._load_model() is None
    previous = sentiment.set_model(None)
    try:
        doc = prepare("worst airline ever, lost my bag")
        assert sentiment.polarity_doc(doc, "en") == sentiment.lexicon_polarity_doc(doc, "en")
    finally:
        sentiment.set_model(previous)


# --- the shipped model ------------------------------------------------------------------

SAMPLES = [
    "@united worst airline ever, lost my bag and nobody answers",
    "Thanks @AmazonHelp, the refund came through in minutes! 👍",
    "Store opens at 9 tomorrow",
    "Le service client est vraiment nul, toujours pas de réponse",
    "Merci beaucoup, livraison rapide et produit parfait",
    "😡😡😡",
    "",
]


def test_shipped_model_is_loaded_and_used() -> None:
    models = sentiment.active_model()
    assert models is not None, "streams/data/sentiment_model.npz did not load"
    assert set(models.by_lang) == {"en", "fr"}
    assert models.metadata["feature_version"] == sm.FEATURE_VERSION
    # English reads CMU ARK's word clusters ("gr8" shares "great"'s cluster prefixes).
    en = models.by_lang["en"]
    assert en.spec.clusters and en.clusters is not None and len(en.clusters.hashes) > 200_000
    assert en.clusters.path("gr8") is not None and en.clusters.path("zzqxv") is None
    assert not models.by_lang["fr"].spec.clusters
    doc = prepare(SAMPLES[0])
    score, view = sentiment.model_inputs(doc, "en")  # type: ignore[misc]
    model = models.for_lang("en")
    assert model is not None
    assert sentiment.polarity_doc(doc, "en") == model.polarity(doc, score, view)
    assert score_text(SAMPLES[0])["sentiment"] == round(sentiment.polarity_doc(doc, "en"), 4)


def test_shipped_model_memo_matches_explicit_features() -> None:
    models = sentiment.active_model()
    assert models is not None
    for text in SAMPLES:
        for lang in ("en", "fr"):
            doc = prepare(text)
            score, view = sentiment.model_inputs(doc, lang)  # type: ignore[misc]
            model = models.for_lang(lang)
            assert model is not None
            assert model.logits(doc, score, view) == pytest.approx(
                model.logits_explicit(doc, score, view), abs=1e-9)


def test_shipped_model_reads_plain_cases() -> None:
    label = [sentiment.sentiment_label(sentiment.polarity(t)) for t in SAMPLES[:5]]
    assert label == ["negative", "positive", "neutral", "negative", "positive"]
    assert sentiment.polarity("😡😡😡") < 0 < sentiment.polarity("😍")
    assert sentiment.polarity("") == sentiment.polarity("   ")
    assert sentiment.polarity("hola amigos, ¿qué tal?", "other") == 0.0


def test_shipped_model_is_deterministic_across_processes() -> None:
    code = ("import json, sys; from streams.core.sentiment import polarity;"
            f"print(json.dumps([polarity(t) for t in {SAMPLES!r}]))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True, env={**os.environ, "PYTHONHASHSEED": seed},
                              cwd=REPO).stdout for seed in ("0", "7")}
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == [sentiment.polarity(t) for t in SAMPLES]


def test_model_file_is_package_data_and_small() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = project["tool"]["setuptools"]["package-data"]["streams"]
    shipped = {Path(p).name for pattern in patterns
               for p in glob.glob(str(REPO / "streams" / pattern))}
    assert {"sentiment_model.npz", "SENTIMENT_MODEL.md"} <= shipped
    assert sm.DEFAULT_PATH.stat().st_size <= 10_000_000
    card = (REPO / "streams/data/SENTIMENT_MODEL.md").read_text(encoding="utf-8")
    for needle in ("cardiffnlp/tweeteval", "cardiffnlp/xlm-t", "Apache-2.0", "MIT"):
        assert needle in card


def test_runtime_module_stays_pure() -> None:
    tree = ast.parse((REPO / "streams/core/sentiment_model.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not imported & {"numpy", "sklearn", "torch", "faust", "aiokafka", "kafka",
                           "prometheus_client"}
    calls = {node.func.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "hash" not in calls  # salted per process: crc32 only
