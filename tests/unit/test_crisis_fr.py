"""French crisis rules of issue 13, on hand-written sentences: each rule fires where it
should and its word-sense guard blocks the everyday sense."""

from __future__ import annotations

import pytest

from streams.core.crisis import _VOCABULARY, STRONG, _stem, _term_key, crisis_match


@pytest.mark.parametrize(
    "text",
    [
        # translations take the tier of their English source ("red cross", "survivors"...)
        "La Croix-Rouge est sur place",
        "Faites un don à la croix rouge",
        "Mes pensées et prières",
        "Un terroriste a ouvert le feu",
        "Les rescapés témoignent",
        "Deux corps sans vie retrouvés",
        "Un tireur fou dans le centre commercial",
        # "blessés" is strong although "blessé" was listed weak: one stem, the higher tier
        "Plusieurs blessés ce matin",
        # casualty counts
        "Un bus dans un ravin, 12 morts",
        "Des dizaines de victimes selon la préfecture",
        "three dead on the highway",
        # compound hashtags with a French disaster noun
        "#IncendiesAustralie des hectares partis en fumée",
        "#TremblementDeTerre on a tous senti",
        "#PrionsPourLeJapon",
        # generic event types
        "Marée noire sur la côte",
        "Nuage toxique au-dessus de la ville",
        # two weak French words for English weak additions (fire, smoke)
        "Le feu progresse, une épaisse fumée noire",
    ],
)
def test_french_rule_fires(text: str) -> None:
    match = crisis_match(text)
    assert match.signal, match


@pytest.mark.parametrize(
    "text",
    [
        # the noun "pensées" is not the verb "pense"
        "Je pense que c'est une crise de confiance",
        # insurance claim and the adjective, not disaster victims
        "J'ai déclaré un sinistre à mon assurance",
        "Quelle ambiance sinistre ce soir",
        # sport and feelings
        "Mbappé blessé, forfait pour samedi",
        "Deux joueurs blessés avant la finale",
        # flavours, prices, drills, success
        "Une explosion de saveurs, ce burger",
        "Cette promo est une bombe, les prix ont explosé",
        "Bureaux évacués pour un exercice incendie, tout va bien",
        "Exercice d'évacuation ce matin",
        "Victime de son succès, le site est en panne",
        "Colis détruit, la livraison est un désastre",
        # counts of non-casualties, and yearly statistics
        "3 morts dans mon équipe de Fortnite",
        "3 missing packages this week",
        "250 000 décès de plus par an, selon une étude",
        # politics and endangered species
        "La lutte anti-terroriste au programme",
        "Attaque en règle contre les espèces menacées",
        # everyday fire
        "Feu vert pour le projet, feu d'artifice ce soir",
        "Inondé de messages depuis ce matin, merci à tous",
    ],
)
def test_french_guard_blocks(text: str) -> None:
    match = crisis_match(text)
    assert not match.signal, match


def test_count_promotes_only_a_casualty_word_after_the_count() -> None:
    assert crisis_match("12 morts").strong == 1
    assert crisis_match("morts 12").strong == 0  # the count must come first
    assert crisis_match("12 catastrophes").strong == 0  # not a casualty word


def test_forms_sharing_a_stem_take_the_highest_listed_tier() -> None:
    assert _term_key("blessé") == _term_key("blessés")
    assert _VOCABULARY[_term_key("blessés")][0] == STRONG


def test_feminine_rule_keeps_nouns_in_ee() -> None:
    assert _stem("pensees") != _stem("pense")
    assert _stem("evacuees") == _stem("evacues")
