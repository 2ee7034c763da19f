"""What the command line runs besides the worker: live ingest, replays, offline reports.

    ingest        live sources (Bluesky, Mastodon, webhooks, files) onto the events topic
    replay        files onto a topic, paced in event time
    control       operator crisis commands (`brandpulse crisis`)
    report        offline metrics over a file, the worker's numbers without Kafka
    scoring       one text's verdicts (`brandpulse score`)
    check_client  the pre-publish check, offline or against a worker
    spikes        the volume-spike alert replayed over a recording
    ml            the optional ONNX sentiment model (`--model DIR`, the `[ml]` extra)
    demo          the live demo on an embedded broker

None of these is imported by the worker.
"""
