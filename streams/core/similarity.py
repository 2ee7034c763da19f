"""Near-duplicate (templated, "robot") reply detection with 64-bit SimHash.

A canned reply differs from its siblings only in the customer's handle, a case number, a
link or the agent's signature, so those are masked before hashing; the SimHash of the
remaining word 2-shingles then differs by a few bits between templated replies.
Hashes are stable across processes (blake2b of tokens, never Python's salted ``hash``).

Speed: SimHash needs, per shingle, a vote on each of 64 bit positions; a Python loop over
shingles and bits costs ~50 µs per reply. Here the votes are counted in bytes of one big
integer with C-level operations (cached per-token spreads for ordinary replies, one packed
integer for long texts), so a reply costs a few microseconds.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise, repeat
from operator import xor
from typing import Final

from streams.core.text import Doc, fold, prepare

__all__ = [
    "DEFAULT_MAX_DISTANCE",
    "TemplatedReplyDetector",
    "agent_signature",
    "hamming",
    "reply_tokens",
    "shingle_hashes",
    "simhash",
    "simhash_tokens",
]

MASK64: Final = (1 << 64) - 1
#: Replies whose fingerprints differ in at most this many bits are near-duplicates.
DEFAULT_MAX_DISTANCE: Final = 3
_MAX_FEATURES: Final = 32_767  # counters keep their top bit free for the majority test

# Agent signatures: "^JB" anywhere, "*JB", or "-JB" / "~JB" ending the reply (before a link).
_CARET_SIGNATURE_RE: Final = re.compile(r"[\^*]\s?([a-z]{1,3})\b")
_TAIL_SIGNATURE_RE: Final = re.compile(r"\s[-–—~]\s?([a-z]{1,3})\s*(?:https?://\S+\s*)?$")


def _signatures(norm: str) -> list[str]:
    """Initials the (folded) reply is signed with, in text order, the tail one last."""
    initials: list[str] = []
    if "^" in norm or "*" in norm:
        initials.extend(_CARET_SIGNATURE_RE.findall(norm))
    end = norm[-60:]
    # The tail pattern needs one of its dashes: most replies skip the regex scan.
    if "-" in end or "~" in end or "\u2013" in end or "\u2014" in end:
        tail = _TAIL_SIGNATURE_RE.search(end)
        if tail is not None:
            initials.append(tail.group(1))
    return initials


def agent_signature(text: str) -> str | None:
    """The agent who signed a brand reply ("... ^JB", "... -AD"), upper case, or None:
    the last signature, the one ending the reply. Read with the same patterns that
    `reply_tokens` masks, so attribution and templating agree on what a signature is."""
    found = _signatures(fold(text))
    return found[-1].upper() if found else None


_GREETINGS: Final = frozenset("hi hello hey dear bonjour bonsoir salut".split())
_HAS_DIGIT: Final = re.compile(r"\d").search


#: _BIT_OF[k] maps a byte to its bit k (0/1): bytes.translate then extracts one bit of every
#: byte of a message's shingle hashes in C.
_BIT_OF: Final = tuple(bytes((v >> k) & 1 for v in range(256)) for k in range(8))
_TOKEN_DIGESTS: dict[str, bytes] = {}
_TOKEN_LIMIT: Final = 200_000
_REPEAT8: Final = sum(1 << (8 * k) for k in range(64))  # 1 in every 8-bit counter
_REPEAT16: Final = sum(1 << (16 * k) for k in range(64))  # 1 in every 16-bit counter
_HIGH_BIT_TO_DIGIT: Final = bytes(48 + (b >> 7) for b in range(256))  # b"0" / b"1"
_ASCII_DIGIT_TO_BIT: Final = bytes((b - 48) & 1 for b in range(256))  # b"0"/b"1" -> 0/1
#: Left rotation applied to the second token's hash of a shingle (so (a, b) != (b, a)).
_ROTATION: Final = 23
_LANE_MASKS: dict[int, tuple[int, int]] = {}
#: Shingles that fit 8-bit counters with their top bit free for the majority test.
_SHORT_FEATURES: Final = 127
#: Per-token spread hashes (see _simhash_short); ~200 bytes per token, hence the bound.
_SPREAD: dict[str, int] = {}
_SPREAD_ROTATED: dict[str, int] = {}
_SPREAD_LIMIT: Final = 50_000


def _token_digest(token: str) -> bytes:
    """Stable 8-byte hash of a token (blake2b), cached: vocabularies are Zipfian."""
    digest = _TOKEN_DIGESTS.get(token)
    if digest is None:
        if len(_TOKEN_DIGESTS) >= _TOKEN_LIMIT:
            _TOKEN_DIGESTS.clear()
        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        _TOKEN_DIGESTS[token] = digest
    return digest


def _lane_masks(lanes: int) -> tuple[int, int]:
    """Masks selecting, in each of ``lanes`` 64-bit lanes, the bits kept by a rotation."""
    masks = _LANE_MASKS.get(lanes)
    if masks is None:
        unit = ((1 << (64 * lanes)) - 1) // MASK64  # 1 at the bottom of every lane
        masks = ((MASK64 - ((1 << _ROTATION) - 1)) * unit, ((1 << _ROTATION) - 1) * unit)
        if len(_LANE_MASKS) < 4096:
            _LANE_MASKS[lanes] = masks
    return masks


_UNSEEN: Final = object()
_FORMS: dict[str, object] = {}


def _masked_form(tok: str) -> str | None:
    """Masked form of one token, or None when the token is left out."""
    if len(_FORMS) >= _TOKEN_LIMIT:
        _FORMS.clear()
    first = tok[0]
    form: str | None
    if tok.isalpha():
        form = tok
    elif first == "@":
        form = "<user>"
    elif first == "#":
        form = "<num>" if _HAS_DIGIT(tok) is not None else tok  # "#55001": a case number
    elif tok.startswith(("http", "www.")):
        form = "<url>"
    elif _HAS_DIGIT(tok) is not None:
        form = "<num>"
    elif first.isalpha() or first == "_":
        form = tok
    else:
        form = None
    _FORMS[tok] = form
    return form


def reply_tokens(text: str | Doc) -> list[str]:
    """Tokens of a reply with its variable parts masked.

    @mentions, URLs, numbers (order/case numbers, times), greeting names ("Hi Sarah,") and
    agent signatures ("^JB", "-AM") become placeholders or disappear; punctuation and emoji
    are left out because agents vary them freely.
    """
    doc = prepare(text)
    # Memoised per spelling and looked up with C-level map(): the masked form of a token
    # never depends on its neighbours.
    forms = list(map(_FORMS.get, doc.tokens, repeat(_UNSEEN)))
    if _UNSEEN in forms:
        forms = [
            _masked_form(tok) if form is _UNSEEN else form
            for tok, form in zip(doc.tokens, forms, strict=True)
        ]
    out: list[str] = list(filter(None, forms))  # type: ignore[arg-type]
    for sig in _signatures(doc.norm):
        for k in range(len(out) - 1, -1, -1):  # the signature is the last occurrence
            if out[k] == sig:
                del out[k]
                break
    # "Hi Sarah," near the start: the customer's name varies between canned replies.
    tokens = doc.tokens
    for k in range(min(4, len(tokens) - 2)):
        if tokens[k] in _GREETINGS and tokens[k + 2][0] in ",!." and tokens[k + 1].isalpha():
            name = tokens[k + 1]
            for j, tok in enumerate(out):
                if tok == name:
                    out[j] = "_name_"
                    break
            break
    return out


def shingle_hashes(tokens: list[str]) -> list[int]:
    """The 64-bit feature hashes SimHash votes with (reference for tests).

    A 2-shingle (a, b) hashes to h(a) XOR rotl(h(b), 23); a lone token to h(a).
    """
    hashes = [int.from_bytes(_token_digest(t), "little") for t in tokens]
    if len(hashes) < 2:
        return hashes
    rot = _ROTATION
    return [a ^ (((b << rot) | (b >> (64 - rot))) & MASK64) for a, b in pairwise(hashes)]


def _spread(value: int) -> int:
    """One byte per bit of a 64-bit value, least significant first (bit k -> byte k)."""
    return int.from_bytes(bin(value)[:1:-1].encode("ascii").translate(_ASCII_DIGIT_TO_BIT),
                          "little")


def _spreads(token: str) -> tuple[int, int]:
    """(spread of h(token), spread of rotl(h(token))), cached."""
    plain = _SPREAD.get(token)
    if plain is not None:
        return plain, _SPREAD_ROTATED[token]
    if len(_SPREAD) >= _SPREAD_LIMIT:
        _SPREAD.clear()
        _SPREAD_ROTATED.clear()
    h = int.from_bytes(_token_digest(token), "little")
    plain = _SPREAD[token] = _spread(h)
    rotated = _SPREAD_ROTATED[token] = _spread(
        ((h << _ROTATION) | (h >> (64 - _ROTATION))) & MASK64)
    return plain, rotated


def _majority_bits(counters: int, features: int, width: int) -> int:
    """Bit k is set when more than half of the features have it: add (top - t) to every
    counter (t = majority count, top = its sign bit) and read each counter's top bit."""
    majority = features // 2 + 1
    if width == 1:
        counters += (0x80 - majority) * _REPEAT8
        top_bytes = counters.to_bytes(64, "little")
    else:
        counters += (0x8000 - majority) * _REPEAT16
        top_bytes = counters.to_bytes(128, "little")[1::2]
    return int(top_bytes.translate(_HIGH_BIT_TO_DIGIT)[::-1], 2)


def simhash_tokens(tokens: list[str]) -> int:
    """64-bit SimHash over word 2-shingles (a single token is its own shingle)."""
    if not tokens:
        return 0
    if len(tokens) <= _SHORT_FEATURES + 1:
        return _simhash_short(tokens)
    return _simhash_long(tokens)


def _simhash_short(tokens: list[str]) -> int:
    """Up to 127 shingles: 8-bit counters, summed from per-token cached spreads.

    Spreading (bit k -> byte k) commutes with XOR, and a rotation of the hash is a rotation
    of its spread, so a shingle's counter block is spread(h(a)) XOR spread(rotl(h(b))), both
    cached per token: the whole vote is one C-level sum of XORs.
    """
    plain: list[int | None] | list[int] = list(map(_SPREAD.get, tokens))
    if None in plain:
        # Values taken as learnt: a cache clear midway must not lose this message's tokens.
        pairs = [_spreads(token) for token in tokens]
        plain = [p for p, _ in pairs]
        rotated = [r for _, r in pairs[1:]]
    else:
        rotated = list(map(_SPREAD_ROTATED.__getitem__, tokens[1:]))
    if len(tokens) == 1:
        return _majority_bits(plain[0], 1, 1)  # type: ignore[arg-type]
    plain.pop()
    counters = sum(map(xor, plain, rotated))
    return _majority_bits(counters, len(tokens) - 1, 1)


def _simhash_long(tokens: list[str]) -> int:
    """128 shingles or more: 16-bit counters, all shingles at once.

    Token hashes are packed into one integer (one 64-bit lane per token), shingle hashes
    are a lane-wise XOR/rotation of it, every bit is spread into its own 16-bit counter with
    ``bytes.translate`` and extended-slice assignment, and the per-shingle counter blocks
    are summed by folding the integer in halves.
    """
    if len(tokens) > _MAX_FEATURES:
        tokens = tokens[: _MAX_FEATURES + 1]
    found = list(map(_TOKEN_DIGESTS.get, tokens))
    digests: list[bytes] = (
        [d or _token_digest(t) for t, d in zip(tokens, found, strict=True)]
        if None in found else found)  # type: ignore[assignment]  # no None left
    packed = int.from_bytes(b"".join(digests), "little")
    lanes = len(digests) - 1
    high_mask, low_mask = _lane_masks(lanes)
    second = packed >> 64  # lane i holds token i + 1
    rotated = ((second << _ROTATION) & high_mask) | ((second >> (64 - _ROTATION)) & low_mask)
    features = (packed & ((1 << (64 * lanes)) - 1)) ^ rotated
    hashes = features.to_bytes(8 * lanes, "little")
    expanded = bytearray(16 * len(hashes))
    for k in range(8):
        expanded[2 * k :: 16] = hashes.translate(_BIT_OF[k])
    counters = int.from_bytes(expanded, "little")
    block_bits = 1024
    blocks = lanes
    while blocks > 1:  # sum the per-shingle counter blocks; counters never carry
        half = (blocks + 1) // 2
        shift = block_bits * half
        counters = (counters & ((1 << shift) - 1)) + (counters >> shift)
        blocks = half
    return _majority_bits(counters, lanes, 2)


def simhash(text: str | Doc) -> int:
    """64-bit SimHash of a reply after masking its variable parts."""
    return simhash_tokens(reply_tokens(text))


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two fingerprints."""
    return (a ^ b).bit_count()


@dataclass(slots=True)
class _Group:
    """Replies of the window sharing one exact fingerprint (a template collapses to one)."""

    fingerprint: int
    count: int = 0
    neighbour_total: int = 0  # replies in other groups within max_distance bits
    neighbours: set[int] = field(default_factory=set)  # fingerprints of those groups

    @property
    def duplicated(self) -> int:
        """Replies of this group that have a near-duplicate among the other replies."""
        return self.count if self.count >= 2 or self.neighbour_total > 0 else 0


class TemplatedReplyDetector:
    """Share of a brand's recent replies that are near-duplicates of another recent reply.

    The window holds the replies of the last ``window_s`` seconds of event time, capped at
    ``max_replies`` (oldest evicted first). Near-duplicate means a Hamming distance of at
    most ``max_distance`` bits. Replies with the same fingerprint form one group, so a
    template used a thousand times costs one group; neighbouring groups are found through
    the pigeonhole principle (two fingerprints within d bits agree exactly on at least one
    of d + 1 bands, so each band is indexed and only band collisions are compared), and the
    number of duplicated replies is maintained incrementally on add and expiry. Replies
    with fewer than ``min_tokens`` tokens after masking ("Thanks!") are ignored: short
    replies coincide without being canned.
    """

    def __init__(
        self,
        *,
        window_s: float = 86_400.0,
        max_replies: int = 1_000,
        max_distance: int = DEFAULT_MAX_DISTANCE,
        min_tokens: int = 4,
    ) -> None:
        if not 0 <= max_distance < 16:
            raise ValueError("max_distance must be in [0, 15]")
        self.window_s = window_s
        self.max_replies = max_replies
        self.max_distance = max_distance
        self.min_tokens = min_tokens
        self._bands = max_distance + 1
        self._band_bits = 64 // self._bands
        self._groups: dict[int, _Group] = {}
        self._window: deque[tuple[float, int]] = deque()  # (event time, fingerprint), arrival order
        self._index: list[dict[int, set[int]]] = [{} for _ in range(self._bands)]
        self._duplicated = 0
        self._watermark = float("-inf")

    def __len__(self) -> int:
        return len(self._window)

    def _band_keys(self, fingerprint: int) -> list[int]:
        bits = self._band_bits
        mask = (1 << bits) - 1
        return [(fingerprint >> (i * bits)) & mask for i in range(self._bands)]

    def fingerprint(self, text: str | Doc) -> int | None:
        """The reply's SimHash, or None when it is too short to be judged canned."""
        tokens = reply_tokens(text)
        return simhash_tokens(tokens) if len(tokens) >= self.min_tokens else None

    def add(
        self,
        event_time_s: float,
        text: str | Doc | None = None,
        *,
        fingerprint: int | None = None,
    ) -> bool:
        """Add one reply (text or precomputed fingerprint); True if it has a near-duplicate.

        Replies older than the window relative to the latest event time are ignored.
        """
        if fingerprint is None:
            tokens = reply_tokens(text if text is not None else "")
            if len(tokens) < self.min_tokens:
                return False
            fingerprint = simhash_tokens(tokens)
        if event_time_s < self._watermark - self.window_s:
            return False
        if event_time_s > self._watermark:
            self._watermark = event_time_s
        self._expire()
        group = self._groups.get(fingerprint)
        if group is None:
            group = self._new_group(fingerprint)
        self._change(group, count=1)
        for other in group.neighbours:
            self._change(self._groups[other], neighbour_total=1)
        self._window.append((event_time_s, fingerprint))
        while len(self._window) > self.max_replies:
            self._remove(self._window.popleft()[1])
        return group.duplicated > 0

    def add_many(self, replies: Iterable[tuple[float, str]]) -> None:
        for event_time_s, text in replies:
            self.add(event_time_s, text)

    def advance(self, event_time_s: float) -> None:
        """Move the event-time watermark (expire old replies) without adding one."""
        if event_time_s > self._watermark:
            self._watermark = event_time_s
            self._expire()

    @property
    def reply_count(self) -> int:
        """Replies currently in the window (0: the ratio says nothing yet)."""
        return len(self._window)

    def templated_reply_ratio(self) -> float:
        """Share in [0, 1] of replies in the window having a near-duplicate in the window."""
        n = len(self._window)
        return self._duplicated / n if n else 0.0

    # ---------------------------------------------------------------- internals
    def _change(self, group: _Group, count: int = 0, neighbour_total: int = 0) -> None:
        before = group.duplicated
        group.count += count
        group.neighbour_total += neighbour_total
        self._duplicated += group.duplicated - before

    def _new_group(self, fingerprint: int) -> _Group:
        group = _Group(fingerprint)
        candidates: set[int] = set()
        for index, key in zip(self._index, self._band_keys(fingerprint), strict=True):
            bucket = index.get(key)
            if bucket is None:
                index[key] = {fingerprint}
            else:
                candidates |= bucket
                bucket.add(fingerprint)
        candidates.discard(fingerprint)
        for other in candidates:
            if (other ^ fingerprint).bit_count() <= self.max_distance:
                neighbour = self._groups[other]
                group.neighbours.add(other)
                neighbour.neighbours.add(fingerprint)
                group.neighbour_total += neighbour.count  # group is empty: no ratio change
        self._groups[fingerprint] = group
        return group

    def _expire(self) -> None:
        horizon = self._watermark - self.window_s
        window = self._window
        # Arrival order approximates event order; out-of-order stragglers expire when reached.
        while window and window[0][0] < horizon:
            self._remove(window.popleft()[1])

    def _remove(self, fingerprint: int) -> None:
        group = self._groups[fingerprint]
        self._change(group, count=-1)
        for other in group.neighbours:
            self._change(self._groups[other], neighbour_total=-1)
        if group.count == 0:
            for other in group.neighbours:
                self._groups[other].neighbours.discard(fingerprint)
            for band, key in enumerate(self._band_keys(fingerprint)):
                bucket = self._index[band].get(key)
                if bucket is not None:
                    bucket.discard(fingerprint)
                    if not bucket:
                        del self._index[band][key]
            del self._groups[fingerprint]
