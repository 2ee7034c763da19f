"""The control topic: operator-declared crises, produced by the CLI, read by every worker."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from streams.broker import bootstrap_servers
from streams.config import Settings
from streams.core.brand import BrandsConfig
from streams.core.crisis import CrisisCommand, DeclaredCrisis
from streams.engine import Engine
from streams.kafka_crc import use_fast_crc32c
from streams.replay import make_producer
from streams.wire import encode_crisis_command


def send_crisis_command(settings: Settings, command: CrisisCommand) -> None:
    producer = make_producer(settings.broker, client_id="brandpulse-control")
    try:
        producer.send(settings.topics.control, key=command.crisis.name.encode(),
                      value=encode_crisis_command(command)).get(timeout=30)
    finally:
        producer.close(10)


def declared_crises(settings: Settings, timeout: float = 10.0) -> list[DeclaredCrisis]:
    """Fold the whole control topic, as a worker does at start, into the declared crises."""
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
                    engine.apply_control(record.value, time.time())  # bad ones: skipped
    finally:
        consumer.close()
    return engine.declared_crises()
