"""Promotional / jokey detection and the tone-deaf reason.

The "known cases" below are our own paraphrases of widely reported brand blunders, written
for these tests (no original post text is reproduced).
"""

from __future__ import annotations

import pytest

from streams.core.crisis import DeclaredCrisis
from streams.core.promo import is_jokey, is_promotional, promo_score, tone_deaf_reason


@pytest.mark.parametrize(
    "text",
    [
        "Flash sale! 30% off all sneakers this weekend only",
        "Use code SPRING20 at checkout",
        "Free shipping on every order, shop now",
        "Black Friday deals are live",
        "Soldes : jusqu'à -50% sur toute la boutique",
        "Livraison offerte dès 50€ d'achat",
        "Profitez de -20% avec le code PROMO20",
        "Bon plan : réduction immédiate en magasin ce week-end",
        "New collection now available in stores",
    ],
)
def test_promotional(text: str) -> None:
    assert is_promotional(text)


@pytest.mark.parametrize(
    "text",
    [
        "@115712 Sorry to hear that. Please DM us your order number and we'll look into it.",
        "@jane We're sorry for the delay, your refund has been processed.",
        "Hi, I get error code 503 when I try to pay",
        "@bob Nous sommes désolés, pouvez-vous nous envoyer votre numéro de commande en MP ?",
        "@marc Votre colis a été remis au transporteur ce matin.",
        "Our stores in areas hit by the storm are closed today. Stay safe.",
        "Is the sale price applied at the register?",
        "Votre solde est de 20€ après le remboursement.",
    ],
)
def test_customer_care_replies_are_not_promotional(text: str) -> None:
    assert not is_promotional(text), promo_score(text)


@pytest.mark.parametrize(
    "text",
    [
        "lol our intern did it again",
        "hahaha you got us there",
        "That's the joke, pun intended",
        "Bored at home? We've got just the thing",
        "mdr la tête du chat 😂",
        "ptdr trop drôle",
        "Monday again 🤣",
        "We see what you did there ;)",
        "#FunnyFriday is here",
    ],
)
def test_jokey(text: str) -> None:
    assert is_jokey(text)


@pytest.mark.parametrize(
    "text",
    [
        "We're sorry for the inconvenience, a technician will call you today.",
        "Thanks for reaching out :)",
        "Votre commande a bien été expédiée.",
        "I was bored stiff on that flight. Your crew should know.",
    ],
)
def test_not_jokey(text: str) -> None:
    assert not is_jokey(text)


# --------------------------------------------------------------------------- tone-deaf

CAIRO = DeclaredCrisis(name="Cairo protests", keywords=("cairo",), hashtags=("#Cairo",))
SANDY = DeclaredCrisis(
    name="Hurricane Sandy",
    keywords=("hurricane", "sandy"),
    hashtags=("#Sandy", "#HurricaneSandy"),
    region="US East Coast",
    start=1_351_000_000.0,
    end=1_352_000_000.0,
)
AURORA = DeclaredCrisis(name="Aurora shooting", keywords=("aurora",), hashtags=("#Aurora",))
VERDICT = DeclaredCrisis(name="Murder trial verdict", hashtags=("#NotGuilty",))
DURING_SANDY = 1_351_500_000.0


def test_shoe_brand_joking_on_the_cairo_protest_hashtag() -> None:
    post = "Crowds are up in arms in #Cairo. Word is they heard our spring line just landed online"
    reason = tone_deaf_reason(post, ["#Cairo"], [CAIRO])
    assert reason is not None and "#cairo" in reason and "Cairo protests" in reason


def test_clothing_retailer_storm_sale() -> None:
    post = "Bored by the hurricane? 20% off everything online today with code STORM"
    assert is_promotional(post) and is_jokey(post)
    reason = tone_deaf_reason(post, [], [SANDY], at=DURING_SANDY)
    assert reason is not None and reason.startswith("promotional and jokey")
    assert "hurricane" in reason


def test_retailer_sandy_shopping_tweet() -> None:
    post = "Stuck inside because of #Sandy? Perfect time to shop online!"
    reason = tone_deaf_reason(post, ["#Sandy"], [SANDY], at=DURING_SANDY)
    assert reason is not None and "#sandy" in reason


def test_boutique_riding_the_aurora_hashtag() -> None:
    post = "Everyone is talking about #Aurora, must be our new Aurora maxi dress 😉"
    reason = tone_deaf_reason(post, ["#Aurora"], [AURORA])
    assert reason is not None and "Aurora shooting" in reason


def test_bakery_on_a_murder_trial_verdict_hashtag() -> None:
    post = "Who else is #NotGuilty about eating every last treat in the box?!"
    reason = tone_deaf_reason(post, ["#NotGuilty"], [VERDICT])
    assert reason is not None and "hijacking" in reason


def test_promotion_during_a_crisis_without_riding_it() -> None:
    reason = tone_deaf_reason("Free shipping this weekend, shop now", [], [SANDY], DURING_SANDY)
    assert reason is not None and "during the active crisis 'Hurricane Sandy'" in reason


def test_supportive_post_using_the_crisis_hashtag_is_fine() -> None:
    post = "Our #Sandy relief drive starts today: stay safe and donate to the Red Cross"
    assert tone_deaf_reason(post, ["#Sandy"], [SANDY], at=DURING_SANDY) is None


def test_ordinary_posts_and_inactive_crises() -> None:
    assert tone_deaf_reason("Our stores open at 9 tomorrow", [], [SANDY], DURING_SANDY) is None
    assert tone_deaf_reason("20% off today, shop now", [], []) is None
    after = SANDY.end + 10  # type: ignore[operator]
    assert tone_deaf_reason("20% off today, shop now #Sandy", ["#Sandy"], [SANDY], after) is None


def test_french_promotion_during_a_crisis() -> None:
    storm = DeclaredCrisis(name="Tempête Alex", keywords=("tempête",), hashtags=("#TempeteAlex",))
    post = "Marre de la tempête ? Profitez de -30% avec le code ALEX"
    reason = tone_deaf_reason(post, [], [storm])
    assert reason is not None and "tempete" in reason
