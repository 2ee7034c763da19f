"""SimHash fingerprints and the templated-reply ratio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.similarity import (
    TemplatedReplyDetector,
    hamming,
    reply_tokens,
    shingle_hashes,
    simhash,
    simhash_tokens,
)

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE_A = (
    "@{user} Hi {name}, we're sorry to hear that. Please DM us your order number and "
    "we'll look into it right away. ^{sig} https://t.co/{link}"
)
TEMPLATE_B = (
    "@{user} Thanks for reaching out! Your ticket #{num} has been escalated to our billing "
    "team, they will contact you within 48 hours."
)
UNIQUE = [
    "@1 Your replacement router ships tomorrow from the Denver warehouse.",
    "@2 The outage in Leeds was caused by a fibre cut; engineers are on site now.",
    "@3 Great photo! The lake looks stunning at sunset.",
    "@4 Nous avons remboursé les frais de livraison sur votre carte ce matin.",
]


def fill(template: str, i: int) -> str:
    names = ["Sarah", "Tom", "Aisha", "Marc", "Li"]
    sigs = ["JB", "AM", "KT", "RS", "PL"]
    return template.format(
        user=1000 + i, name=names[i % 5], sig=sigs[i % 5], link=f"x{i}y", num=55000 + i
    )


def brute_force_simhash(tokens: list[str]) -> int:
    hashes = shingle_hashes(tokens)
    if not hashes:
        return 0
    return sum(1 << k for k in range(64) if 2 * sum((h >> k) & 1 for h in hashes) > len(hashes))


def test_masking_removes_variable_parts() -> None:
    tokens = reply_tokens(fill(TEMPLATE_A, 0))
    assert tokens[:3] == ["<user>", "hi", "_name_"]
    assert tokens[-1] == "<url>"
    assert "jb" not in tokens and "sarah" not in tokens
    assert "<num>" in reply_tokens("your case 12345 is open")


def test_filled_templates_are_near_duplicates() -> None:
    a, b = simhash(fill(TEMPLATE_A, 0)), simhash(fill(TEMPLATE_A, 1))
    assert hamming(a, b) <= 3
    c, d = simhash(fill(TEMPLATE_B, 0)), simhash(fill(TEMPLATE_B, 7))
    assert hamming(c, d) <= 3


def test_different_replies_are_far_apart() -> None:
    prints = [simhash(t) for t in [fill(TEMPLATE_A, 0), fill(TEMPLATE_B, 0), *UNIQUE]]
    for i, a in enumerate(prints):
        for b in prints[i + 1 :]:
            assert hamming(a, b) > 10


def test_vectorised_simhash_equals_the_bit_by_bit_definition() -> None:
    texts = [fill(TEMPLATE_A, 3), *UNIQUE, "x", "", "word " * 200]
    for text in texts:
        tokens = reply_tokens(text)
        assert simhash_tokens(tokens) == brute_force_simhash(tokens)
    many = [f"t{i % 37}" for i in range(300)]  # > 127 shingles: 16-bit counters
    assert simhash_tokens(many) == brute_force_simhash(many)
    # Both sides of the 8-bit/16-bit counter boundary (127 and 128 shingles), with one
    # shingle repeated so that its bits sit exactly at the majority threshold.
    for n in (2, 3, 127, 128, 129):
        tokens = ["same", "pair"] * (n // 2) + [f"u{i}" for i in range(n - 2 * (n // 2))]
        assert simhash_tokens(tokens) == brute_force_simhash(tokens), n


def test_fingerprint_is_64_bit_and_stable_across_processes() -> None:
    text = fill(TEMPLATE_A, 2)
    here = simhash(text)
    assert 0 <= here < 1 << 64
    code = f"from streams.core.similarity import simhash; print(simhash({text!r}))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == here


def test_ratio_counts_replies_with_a_near_duplicate() -> None:
    detector = TemplatedReplyDetector()
    for i in range(4):
        detector.add(100.0 + i, fill(TEMPLATE_A, i))
    for i, text in enumerate(UNIQUE):
        detector.add(200.0 + i, text)
    assert len(detector) == 8
    assert detector.templated_reply_ratio() == pytest.approx(4 / 8)


def test_add_reports_whether_the_reply_is_templated() -> None:
    detector = TemplatedReplyDetector()
    assert detector.add(0.0, fill(TEMPLATE_B, 0)) is False
    assert detector.add(1.0, fill(TEMPLATE_B, 1)) is True
    assert detector.templated_reply_ratio() == 1.0


def test_window_expiry_by_event_time() -> None:
    detector = TemplatedReplyDetector(window_s=3600)
    detector.add(0.0, fill(TEMPLATE_A, 0))
    detector.add(10.0, fill(TEMPLATE_A, 1))
    assert detector.templated_reply_ratio() == 1.0
    detector.add(5000.0, UNIQUE[0])  # both templated replies are now out of the window
    assert len(detector) == 1
    assert detector.templated_reply_ratio() == 0.0
    detector.advance(10_000.0)
    assert len(detector) == 0 and detector.templated_reply_ratio() == 0.0


def test_window_cap_evicts_oldest() -> None:
    detector = TemplatedReplyDetector(max_replies=3)
    detector.add(0.0, fill(TEMPLATE_A, 0))
    detector.add(1.0, fill(TEMPLATE_A, 1))
    for i, text in enumerate(UNIQUE[:2]):
        detector.add(2.0 + i, text)
    assert len(detector) == 3
    # one template copy left, without a sibling in the window
    assert detector.templated_reply_ratio() == 0.0


def test_short_replies_are_ignored() -> None:
    detector = TemplatedReplyDetector()
    assert detector.add(0.0, "Thanks!") is False
    assert detector.add(1.0, "Thanks!") is False
    assert len(detector) == 0


def test_precomputed_fingerprints_and_distance_threshold() -> None:
    detector = TemplatedReplyDetector(max_distance=2)
    base = 0xDEADBEEF_00C0FFEE
    detector.add(0.0, fingerprint=base)
    assert detector.add(1.0, fingerprint=base ^ 0b11) is True  # 2 bits apart
    assert detector.add(2.0, fingerprint=base ^ 0b111 << 40) is False  # 3 bits apart
    with pytest.raises(ValueError):
        TemplatedReplyDetector(max_distance=16)


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 63), st.integers(0, 63), st.integers(0, 50)),
        max_size=80,
    )
)
@settings(max_examples=150, deadline=None)
def test_incremental_ratio_equals_brute_force(steps: list[tuple[int, int, int, int]]) -> None:
    bases = [0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210, 0x0F0F_0F0F_0F0F_0F0F, 0]
    detector = TemplatedReplyDetector(window_s=100, max_replies=10, max_distance=3)
    window: list[tuple[float, int]] = []
    t = 0.0
    for base, bit_a, bit_b, gap in steps:
        t += gap
        fingerprint = bases[base] ^ (1 << bit_a) ^ (1 << bit_b)
        detector.add(t, fingerprint=fingerprint)
        window.append((t, fingerprint))
        window = [(u, f) for u, f in window if u >= t - 100][-10:]
        duplicated = sum(
            1
            for i, (_, f) in enumerate(window)
            if any((f ^ g).bit_count() <= 3 for j, (_, g) in enumerate(window) if j != i)
        )
        expected = duplicated / len(window)
        assert detector.templated_reply_ratio() == pytest.approx(expected)
        assert len(detector) == len(window)


def test_spread_cache_cleared_within_a_message_keeps_the_fingerprint(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.core import similarity

    tokens = [f"fresh{i}" for i in range(10)]
    expected = brute_force_simhash(tokens)
    monkeypatch.setattr(similarity, "_SPREAD_LIMIT", 3)  # clears several times in this reply
    similarity._SPREAD.clear()
    similarity._SPREAD_ROTATED.clear()
    assert simhash_tokens(tokens) == expected
    assert simhash_tokens(tokens) == expected  # partly cached

