"""Plumbing shared by the worker and the commands.

    broker     Kafka admin, producers and reachability checks (kafka-python)
    kafka_crc  the CRC-32C Kafka record batches carry
    web        the small HTTP server of the worker and the webhook source
    ratelog    rate-limited log lines: one fault, one line, then a summary
"""
