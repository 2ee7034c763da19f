"""Cheap en/fr/other language decision."""

from __future__ import annotations

import pytest

from streams.core.lang import LANGS, detect_lang


@pytest.mark.parametrize(
    "text",
    [
        "@united my flight was cancelled and nobody is answering",
        "Thanks for the quick reply!",
        "great service",
        "Where is my package? It was supposed to arrive yesterday",
        "Flight delayed again, 3 hours on hold",
    ],
)
def test_english(text: str) -> None:
    assert detect_lang(text) == "en"


@pytest.mark.parametrize(
    "text",
    [
        "@sncf mon train est encore en retard, c'est nul",
        "Merci pour votre réponse rapide !",
        "Je n'ai toujours pas reçu ma commande",
        "trop bien ce resto",
        "Livraison offerte dès 30€",
        "bof",
        "tres decu du service client",
    ],
)
def test_french(text: str) -> None:
    assert detect_lang(text) == "fr"


@pytest.mark.parametrize(
    "text",
    [
        "El servicio es muy malo y no funciona para nada",
        "Der Zug ist schon wieder zu spät und das ist nicht gut",
        "这个服务太糟糕了",
        "الخدمة سيئة جدا",
        "Il servizio clienti è pessimo",
        "O atendimento ao cliente é muito ruim",
        "Fuerte sismo de magnitud 7 en la capital del país",
    ],
)
def test_other(text: str) -> None:
    assert detect_lang(text) == "other"


@pytest.mark.parametrize("text", ["", "😡😡😡", "@brand https://t.co/x", "!!! 123"])
def test_no_letters_is_undetermined(text: str) -> None:
    # Was "en" for emoji and "other" for empty text: neither says which language it is.
    assert detect_lang(text) == "und"


def test_undetermined_emoji_are_still_scored() -> None:
    from streams.core.sentiment import polarity

    assert polarity("😡😡😡") < 0 < polarity("😍")


def test_result_is_one_of_the_declared_languages() -> None:
    assert detect_lang("lorem ipsum") in LANGS
