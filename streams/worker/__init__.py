"""The Faust worker: the app factory, its agents and the runtime they share.

    app         the app factory (`create_app`): topics, agents, timers, web views
    agents      thin Faust agents: take events, hand them to the runtime, withhold on rebalance
    runtime     the worker's state of play: the engine, owned brands, recovery, persistence
    state       the changelog: transactions per persist, replay of committed ones at recovery
    ownership   which brands this worker owns (partitions of the events topic)
    gauges      gauges refreshed from the engine's state (backlog, oldest waiting...)
    api         the JSON API (/api/brands, /api/check) over the engine
    health      /healthz, /readyz and /startupz: what an orchestrator probes
    lean_faust  Faust settings and patches that keep the worker lean
    process     the process around it: signals, a bounded stop, logging
"""
