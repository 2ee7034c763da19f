"""CRC-32C in C for kafka-python, the client of brandpulse's producer and admin tooling.

kafka-python checksums every record batch it writes (and checks every batch it reads) with
CRC-32C. Without the optional `crc32c` package it does so in pure Python, ~145 ns per byte
on the bench machine: ~45 µs per 300-byte event, which made `brandpulse replay`, the ingest
connectors and the live bench's load generator spend most of their CPU on checksums. That
package is LGPL, which brandpulse does not ship (no GPL family); `google-crc32c`
(Apache-2.0) is the same checksum in C, ~0.1 ns per byte. kafka-python has no setting for
it, so `use_fast_crc32c` points its record codec's one checksum function at it.
"""

from __future__ import annotations

from typing import Any

import google_crc32c
from kafka.record import default_records


def crc32c(data: Any) -> int:
    """CRC-32C (Castagnoli) of a bytes-like object, as kafka-python's `calc_crc32c`."""
    return int(google_crc32c.value(bytes(data)))


def use_fast_crc32c() -> bool:
    """Install `crc32c` in kafka-python's record codec; False (and nothing changed) when
    google-crc32c runs its own pure-Python fallback, which is no faster, or the codec has
    no such function to replace."""
    if google_crc32c.implementation != "c" or not hasattr(default_records, "calc_crc32c"):
        return False
    default_records.calc_crc32c = crc32c
    return True
