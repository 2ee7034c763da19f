"""The control topic: operator-declared crises, produced by the CLI, read by every worker."""

from __future__ import annotations

import time
from collections import Counter

from kafka import KafkaConsumer, TopicPartition

from streams.commands.replay import make_producer
from streams.config import Settings
from streams.core.brand import BrandsConfig
from streams.core.crisis import CrisisCommand, DeclaredCrisis
from streams.engine import Engine
from streams.plumbing.broker import bootstrap_servers
from streams.plumbing.kafka_crc import use_fast_crc32c
from streams.wire import RecordVerifier, encode_crisis_command, sign_record


def send_crisis_command(settings: Settings, command: CrisisCommand) -> None:
    """Write one command, signed with the internal key: workers refuse unsigned ones."""
    keys = settings.require_internal_key("brandpulse crisis")
    topic = settings.topics.control
    value = encode_crisis_command(command)
    headers = sign_record(keys[0], topic, value, time.time()) if keys else []
    producer = make_producer(settings.broker, client_id="brandpulse-control")
    try:
        producer.send(topic, key=command.crisis.name.encode(), value=value,
                      headers=headers).get(timeout=30)
    finally:
        producer.close(10)


def declared_crises(settings: Settings, timeout: float = 10.0,
                    refused: Counter[str] | None = None) -> list[DeclaredCrisis]:
    """Fold the whole control topic, as a worker does at start, into the declared crises:
    only signed records count (the reasons of the others are added to `refused`)."""
    verifier = RecordVerifier(settings.topics.control,
                              settings.require_internal_key("brandpulse crisis list"),
                              settings.max_future_skew_seconds)
    refused = Counter() if refused is None else refused
    use_fast_crc32c()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker),
                             group_id=None, enable_auto_commit=False)
    engine = Engine(BrandsConfig({}))
    try:
        partitions = [TopicPartition(settings.topics.control, p) for p in
                      sorted(consumer.partitions_for_topic(settings.topics.control) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
                consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    now = time.time()
                    rejection = (verifier.check(record.partition, record.headers,
                                                record.value, now)
                                 or engine.apply_control(record.value, now))
                    if rejection is not None:  # skipped, as a worker does
                        refused[rejection.reason.value] += 1
    finally:
        consumer.close()
    return engine.declared_crises()
