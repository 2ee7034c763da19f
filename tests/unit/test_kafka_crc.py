"""kafka-python's record checksums in C: the same CRC-32C, batches that still verify."""

from __future__ import annotations

import random

from kafka.record import default_records
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.util import crc32c_py

from streams.plumbing.kafka_crc import crc32c, use_fast_crc32c


def test_the_c_checksum_equals_kafka_pythons_own_on_every_kind_of_buffer() -> None:
    rng = random.Random(7)
    for size in (0, 1, 7, 64, 1000, 65_537):
        data = bytearray(rng.getrandbits(8) for _ in range(size))
        view = memoryview(data)[size // 3:]  # writable and offset, as kafka-python passes
        assert crc32c(view) == crc32c_py(view), size
        assert crc32c(bytes(data)) == crc32c_py(bytes(data)), size
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)


def test_batches_built_after_installing_verify_and_carry_the_same_checksum() -> None:
    def build() -> bytes:
        builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False,
                                            producer_id=-1, producer_epoch=-1,
                                            base_sequence=-1, batch_size=1 << 20)
        for i in range(50):
            builder.append(i, timestamp=1_700_000_000_000 + i, key=b"acme",
                           value=b'{"id":"m%d","text":"help"}' % i, headers=[])
        return bytes(builder.build())

    original = default_records.calc_crc32c
    try:
        default_records.calc_crc32c = crc32c_py  # type: ignore[attr-defined]
        slow = build()
        assert use_fast_crc32c() is True
        assert default_records.calc_crc32c is crc32c
        fast = build()
    finally:
        default_records.calc_crc32c = original  # type: ignore[attr-defined]
    assert fast == slow
    assert DefaultRecordBatch(fast).validate_crc()
    corrupted = bytearray(fast)
    corrupted[-1] ^= 0xFF
    assert not DefaultRecordBatch(bytes(corrupted)).validate_crc()
