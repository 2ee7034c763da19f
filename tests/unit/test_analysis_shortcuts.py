"""The analysis shortcuts of branch perf2 give what the long paths give."""

from __future__ import annotations

import pytest

import streams.core.sentiment as sentiment
from streams.core.similarity import _TAIL_SIGNATURE_RE, agent_signature, reply_tokens
from streams.core.text import _TOKEN_RE, fold, tokenize


@pytest.mark.parametrize("chunk", ["12345", "b0000care", "user123", "²3", "٣٤", "abc_1"])
def test_alphanumeric_chunks_are_one_token_as_the_regex_says(chunk: str) -> None:
    text = f"order {chunk} {chunk}? #{chunk}"
    assert tokenize(text) == _TOKEN_RE.findall(text)
    assert chunk in tokenize(text)


@pytest.mark.parametrize("dash", ["-", "~", "\u2013", "\u2014"])
def test_every_tail_signature_dash_is_still_read(dash: str) -> None:
    text = f"We are on it, a refund is on its way {dash}JB"
    assert agent_signature(text) == "JB"
    assert "jb" not in reply_tokens(text)


def test_no_dash_no_tail_signature() -> None:
    text = "We are on it, a refund is on its way JB"
    assert _TAIL_SIGNATURE_RE.search(fold(text)[-60:]) is None
    assert agent_signature(text) is None


def test_unseen_spelling_scores_as_after_a_fresh_memo() -> None:
    """A message with never-seen tokens scores the same whether the active set comes from
    the language's maintained set (no reset) or from the message itself (fresh memo)."""
    text = "@shop98765 my order 98765 is late again, awful service #98765"
    first = sentiment.polarity(text, "en")
    assert first < 0
    language = sentiment.LANGUAGES["en"]
    language.memo.clear()
    language.active = set(language.fixed_active)
    assert sentiment.polarity(text, "en") == first
