"""The signature of internal records (control and crisis-shares topics): who wrote them.

Every worker believes what these two topics say about the whole deployment, so a record is
applied only if it carries an HMAC-SHA256 made with the shared internal key
(`BRANDPULSE_INTERNAL_KEY`, docs/operations.md). ACLs decide who may *write* a topic; the
key decides whose records are *believed*, and it still holds where the broker cannot tell
principals apart (plaintext, the embedded broker).

The signature travels in one Kafka record header, ``brandpulse-signature``, as
``v1:<signed_at_ms>:<64 lowercase hex>``: the HMAC of

    b"brandpulse-record/v1\\n" + topic + b"\\n" + signed_at_ms + b"\\n" + value

Why a header, not an envelope around the value: the value stays the exact bytes that the
decoders check and the dead letter shows; the MAC is checked before any JSON of an
unauthenticated record is parsed; and nothing is re-encoded to be verified, so there is no
canonical form to agree on. Why the topic: a control record cannot be replayed as a share
(or the reverse). Why the signing time: a replay bound (`RecordVerifier`). The Kafka key
and other headers are not covered; no reader uses them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from typing import Any

from streams.events import Rejection, RejectReason

SIGNATURE_HEADER = "brandpulse-signature"
#: `v1:` + at most 15 digits of milliseconds + `:` + 64 hex digits.
MAX_SIGNATURE_BYTES = 3 + 15 + 1 + 64
_SIGNATURE = re.compile(rb"v1:([0-9]{1,15}):([0-9a-f]{64})")
_DOMAIN = b"brandpulse-record/v1\n"


def _mac(key: bytes, topic: str, signed_at_ms: int, value: bytes | None) -> bytes:
    message = b"".join((_DOMAIN, topic.encode(), b"\n", str(signed_at_ms).encode(), b"\n",
                        value or b""))
    return hmac.new(key, message, hashlib.sha256).digest()


def sign_record(key: bytes, topic: str, value: bytes, now: float) -> list[tuple[str, bytes]]:
    """The headers to send `value` on `topic` with, signed at wall time `now` (seconds)."""
    signed_at_ms = int(now * 1000)
    mac = _mac(key, topic, signed_at_ms, value).hex()
    return [(SIGNATURE_HEADER, f"v1:{signed_at_ms}:{mac}".encode())]


def verify_record(keys: Sequence[bytes], topic: str, headers: Any,
                  value: bytes | None) -> float | Rejection:
    """The signing time (epoch seconds) of a record signed with one of `keys` for `topic`,
    else why not. Never raises, whatever the headers hold.

    `keys` is the current key, then the previous one during a rotation. `unsigned`: no
    signature header; `bad_signature`: several, a malformed one, or a MAC no key made. The
    MACs are compared in constant time (`hmac.compare_digest`)."""
    found = _signature_header(headers)
    if isinstance(found, Rejection):
        return found
    match = _SIGNATURE.fullmatch(found) if len(found) <= MAX_SIGNATURE_BYTES else None
    if match is None:
        return Rejection(RejectReason.BAD_SIGNATURE,
                         f"header {SIGNATURE_HEADER} is not v1:<ms>:<hex HMAC-SHA256>")
    signed_at_ms = int(match.group(1))
    claimed = bytes.fromhex(match.group(2).decode())
    good = False
    for key in keys:  # every key is tried: the time taken does not tell which one matched
        good |= hmac.compare_digest(_mac(key, topic, signed_at_ms, value), claimed)
    if not good:
        return Rejection(RejectReason.BAD_SIGNATURE, f"the HMAC does not match this record "
                         f"on {topic[:100]} under the internal key (BRANDPULSE_INTERNAL_KEY)")
    return signed_at_ms / 1000


def _signature_header(headers: Any) -> bytes | Rejection:
    """The one signature header's value among a record's headers (client libraries give a
    sequence of (str, bytes | None) pairs; anything else counts as no header)."""
    found: list[Any] = []
    try:
        items: Iterable[Any] = headers or ()
        for item in items:
            if type(item) is tuple and len(item) == 2 and item[0] == SIGNATURE_HEADER:
                found.append(item[1])
    except TypeError:
        found = []
    if not found:
        return Rejection(RejectReason.UNSIGNED, f"no {SIGNATURE_HEADER} header: internal "
                         "records must be signed with the internal key")
    if len(found) > 1:
        return Rejection(RejectReason.BAD_SIGNATURE, f"{len(found)} {SIGNATURE_HEADER} "
                         "headers")
    value = found[0]
    if type(value) is not bytes:
        return Rejection(RejectReason.BAD_SIGNATURE, f"header {SIGNATURE_HEADER} has no "
                         "bytes value")
    return value


class RecordVerifier:
    """Checks each record of one followed topic, in offset order: signature, then time.

    Replay bound: a record signed more than `tolerance` seconds after the wall clock is
    refused (`future_timestamp`), and so is one signed more than `tolerance` before the
    newest record already accepted on its partition (`replayed`): whoever can write the
    topic but has no key cannot re-append an old signed `declare` after its `end`, or an old
    share, except within `tolerance` of the newest signed record. `tolerance` is the clock
    skew allowed between hosts (`max_future_skew_seconds`, 300 s): legitimate signers'
    clocks must agree that well (NTP). Re-reading the topic from the start (every worker
    start) gives the same verdicts, the future check aside.

    Without keys (the explicit unsigned mode, `BRANDPULSE_ALLOW_UNSIGNED`) every record
    passes."""

    def __init__(self, topic: str, keys: Sequence[bytes], tolerance: float) -> None:
        self.topic = topic
        self.keys = tuple(keys)
        self.tolerance = tolerance
        self._newest: dict[int, float] = {}

    def check(self, partition: int, headers: Any, value: bytes | None,
              now: float) -> Rejection | None:
        if not self.keys:
            return None
        signed_at = verify_record(self.keys, self.topic, headers, value)
        if isinstance(signed_at, Rejection):
            return signed_at
        if signed_at > now + self.tolerance:
            return Rejection(RejectReason.FUTURE_TIMESTAMP, f"signed at {signed_at:.3f}, "
                             f"beyond the wall clock {now:.0f} + {self.tolerance:.0f} s")
        newest = self._newest.get(partition)
        if newest is not None and signed_at < newest - self.tolerance:
            return Rejection(RejectReason.REPLAYED, f"signed at {signed_at:.3f}, more than "
                             f"{self.tolerance:.0f} s before the newest accepted record "
                             f"({newest:.3f}): an old record written again")
        if newest is None or signed_at > newest:
            self._newest[partition] = signed_at
        return None
