"""Generate brandpulse's Grafana dashboards as committed JSON.

Run ``python -m grafana.build`` from the project root (or ``--out DIR`` to write elsewhere,
which is how tests/ops checks that the committed JSON is up to date). Dashboards are built
with grafana-foundation-sdk so that panels are typed instead of hand-edited JSON, and the
output is deterministic (sorted keys, sequential panel ids) so diffs stay reviewable.

Each dashboard is a module of this package with a ``build()``; the panel helpers they share
are in grafana/panels.py. This module only renders and writes them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from grafana import competitors, crisis, pipeline, reply_sla, scorecard

DEFAULT_OUT = Path(__file__).resolve().parent / "dashboards"

# Output file -> dashboard; this order is the order the files are written and printed.
DASHBOARDS: dict[str, Callable[[], db.Dashboard]] = {
    "brandpulse-scorecard.json": scorecard.build,
    "brandpulse-reply-sla.json": reply_sla.build,
    "brandpulse-crisis.json": crisis.build,
    "brandpulse-pipeline.json": pipeline.build,
    "brandpulse-competitors.json": competitors.build,
}
# Annotation fields the SDK model cannot carry, by annotation name, on whichever board.
ANNOTATION_EXTRAS: dict[str, dict[str, object]] = {**crisis.ANNOTATION_EXTRAS}


def _finalise(model: dict[str, Any]) -> dict[str, Any]:
    """Stable panel ids (Grafana needs unique ones) and the SDK-unsupported annotation keys."""
    next_id = 1
    for panel in model.get("panels", []):
        panel["id"] = next_id
        next_id += 1
        for inner in panel.get("panels", []):
            inner["id"] = next_id
            next_id += 1
    for ann in model.get("annotations", {}).get("list", []):
        ann.update(ANNOTATION_EXTRAS.get(ann.get("name", ""), {}))
    return model


def render(builder: db.Dashboard) -> str:
    """Dashboard builder -> the exact text committed under grafana/dashboards."""
    model = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return json.dumps(_finalise(model), indent=2, sort_keys=True) + "\n"


def build(out_dir: Path) -> list[Path]:
    """Write every dashboard into out_dir; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, factory in DASHBOARDS.items():
        path = out_dir / name
        path.write_text(render(factory()), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: ``python -m grafana.build [--out DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
