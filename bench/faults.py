"""Exact accounting through faults, run after run (issue 20's targets: 0 lost, 0 doubled,
backlog exact in 20 of 20 runs of each scenario).

    .venv/bin/python bench/faults.py [--runs 20] [--scenario sigkills,scale-down,rolling-restart]
        [--rate 300] [--warmup 5] [--between 5] [--tail 5] [--max-minutes 180] [--keep]

Each run is tests/integration/exact.py's scenario on a fresh embedded broker: 20 brands,
live traffic at --rate events/s with a per-brand ledger, the broker frozen (SIGSTOP) around
each SIGKILL so the scrape before the kill is the truth. One row per run as it ends, then a
summary per scenario; the whole result goes to bench/results/faults-<timestamp>.json.
A run that fails (a worker died, a wait timed out) is an `error` row, not a bench crash.
"""

from __future__ import annotations

import argparse
import time
import traceback
from dataclasses import asdict
from typing import Any

from _common import write_result

from tests.integration.exact import FAULTS, SCENARIOS, FaultResult, Timing, run_scenario

COLUMNS = ("run", "scenario", "lost", "doubled", "backlog diff", "counters decreased",
           "prom missed", "restart→ready s", "events", "seconds")


def row(run: int, result: FaultResult) -> list[str]:
    return [str(run), result.scenario, str(result.lost), str(result.doubled),
            str(result.backlog_diff), str(len(result.decreases)), str(result.prometheus_missed),
            ",".join(f"{s:g}" for s in result.restart_to_ready), str(result.events),
            f"{result.seconds:g}"]


def show(cells: list[str]) -> None:
    widths = (4, 16, 7, 8, 13, 19, 12, 22, 7, 8)
    print("  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)),
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each scenario")
    parser.add_argument("--scenario", default=",".join(FAULTS),
                        help=f"comma-separated, of {', '.join(SCENARIOS)} (baseline: no "
                             f"fault, the control)")
    parser.add_argument("--rate", type=float, default=300.0, help="events/s sent")
    parser.add_argument("--warmup", type=float, default=5.0, help="s of load before a fault")
    parser.add_argument("--between", type=float, default=5.0, help="s of load between faults")
    parser.add_argument("--tail", type=float, default=5.0, help="s of load after the last")
    parser.add_argument("--max-minutes", type=float, default=180.0,
                        help="start no new run after this long")
    parser.add_argument("--keep", action="store_true", help="keep each run's logs in /tmp")
    args = parser.parse_args()
    scenarios = [name.strip() for name in args.scenario.split(",") if name.strip()]
    unknown = [name for name in scenarios if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown}; known: {', '.join(SCENARIOS)}")
    timing = Timing(args.warmup, args.between, args.tail)
    deadline = time.monotonic() + args.max_minutes * 60
    show(list(COLUMNS))
    rows: list[dict[str, Any]] = []
    for run in range(1, args.runs + 1):
        for scenario in scenarios:
            if time.monotonic() > deadline:
                print(f"stopped after {args.max_minutes:g} minutes (--max-minutes)")
                break
            try:
                result = run_scenario(scenario, timing, rate=args.rate, seed=run,
                                      keep=args.keep)
            except Exception as exc:  # a run that could not be measured is reported, not fatal
                print(f"{run:>4}  {scenario:>16}  error: {type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200]}", flush=True)
                for note in getattr(exc, "__notes__", []):
                    print(f"      {note}", flush=True)
                rows.append({"run": run, "scenario": scenario,
                             "error": traceback.format_exception_only(exc)[-1].strip()[:4000]})
                continue
            show(row(run, result))
            for note in result.moved_while_frozen + result.notes:
                print(f"      {note}", flush=True)
            rows.append({"run": run, **_summary(result)})
        else:
            continue
        break
    print()
    for scenario in scenarios:
        done = [r for r in rows if r["scenario"] == scenario]
        exact = [r for r in done if "error" not in r and not r["failures"]]
        print(f"{scenario}: exact in {len(exact)} of {len(done)} runs "
              f"({sum('error' in r for r in done)} errors)")
    path = write_result("faults", {"args": vars(args), "runs": rows})
    print(f"results: {path}")
    return 0


def _summary(result: FaultResult) -> dict[str, Any]:
    return {"scenario": result.scenario, "lost": result.lost, "doubled": result.doubled,
            "backlog_diff": result.backlog_diff, "counters_decreased": len(result.decreases),
            "prometheus_missed": result.prometheus_missed,
            "restart_to_ready_s": result.restart_to_ready, "events": result.events,
            "seconds": result.seconds, "caught_up": result.caught_up,
            "moved_while_frozen": result.moved_while_frozen, "notes": result.notes,
            "failures": result.failures(), "brands": [asdict(b) for b in result.brands]}


if __name__ == "__main__":
    raise SystemExit(main())
