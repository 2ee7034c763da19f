"""Language decision on a hand-written multilingual set (tests/data/lang_samples.tsv).

Spanish, Italian, Portuguese, German, Dutch and non-Latin scripts must come out "other"
(they used to be labelled French when they shared "de"/"la"/"que" or an accent), and
messages without letters "und".
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streams.core.lang import LANGS, detect_lang

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from eval_lang import load_samples as _samples  # one reader of the set


def test_the_set_covers_every_label() -> None:
    assert {gold for gold, _ in _samples()} == set(LANGS)


@pytest.mark.parametrize(("gold", "text"), _samples())
def test_hand_written_sample(gold: str, text: str) -> None:
    assert detect_lang(text) == gold


def test_romance_function_words_shared_with_french_do_not_make_french() -> None:
    assert detect_lang("el servicio de la empresa que tengo es malo") == "other"
    assert detect_lang("la qualité de la ligne que je paie") == "fr"
