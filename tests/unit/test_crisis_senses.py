"""Word-sense guards, French translation of CrisisLex, no event-specific vocabulary."""

from __future__ import annotations

import pytest

from streams.core.crisis import _VOCABULARY, _term_key, crisis_match, crisis_signal, crisis_terms


@pytest.mark.parametrize(
    "text",
    [
        "my Fire TV Stick keeps freezing",
        "the amazon fire tablet won't charge",
        "missing app after the update, where did it go?",
        "my package is missing again",
        "the app crashed twice today",
        "phone is dead after 2 hours, battery is a disaster",
        "screen shot attached, the emergency contact field is broken",
        "Tues delivery slot please",
    ],
)
def test_everyday_senses_are_not_crisis(text: str) -> None:
    assert not crisis_signal(text), crisis_match(text)


@pytest.mark.parametrize(
    "text",
    [
        "huge fire downtown, firefighters on scene",
        "three hikers still missing after the flood",
        "plane crash near the airport, casualties feared",
        "earthquake just hit, the whole building shook",
        "praying for the victims of the storm",
        "Une forte explosion a secoué le quartier cette nuit",
        "Les sinistrées ont été relogées après l'incendie",
        "Pensées aux victimes, plusieurs blessés graves",
        "Violent séisme : des disparus sous les décombres",
    ],
)
def test_crisis_senses_raise_the_signal(text: str) -> None:
    assert crisis_signal(text), crisis_match(text)


@pytest.mark.parametrize(
    "key", ["marathon explosion", "fertilizer explosion", "explosion fertiliser", "high river",
            "yycflood"],
)
def test_no_event_specific_vocabulary(key: str) -> None:
    assert _term_key(key) not in _VOCABULARY


def test_event_hashtags_are_not_needed_but_disaster_hashtags_count() -> None:
    assert crisis_signal("#qldfloods roads closed")
    assert crisis_terms("#PrayForBoston") == ["#prayforboston"]


def test_french_translation_is_loaded() -> None:
    assert _term_key("montée des eaux") in _VOCABULARY
    assert crisis_signal("la montée des eaux inquiète, les pompiers sont sur place")


@pytest.mark.parametrize(
    "text",
    [
        "Trois personnes portées disparues après l'accident",
        "Deux personnes ont trouvé la mort dans la nuit",
        "Les écoles évacuées ce matin",
        "Un accident ferroviaire dans la nuit",
        "Plusieurs maisons détruites par les flammes",
    ],
)
def test_french_inflection_and_verb_phrases_signal(text: str) -> None:
    assert crisis_signal(text), crisis_match(text)


@pytest.mark.parametrize(
    "text",
    [
        "Quel dommage, le concert est annulé",  # dommage = pity, not damages
        "Les prix ont explosé cette année",  # figurative, weak alone
        "Révolte et morts suspectes",  # French "suspectes" is not English "suspect"
    ],
)
def test_french_everyday_senses_do_not_signal(text: str) -> None:
    assert not crisis_signal(text), crisis_match(text)
