"""A live source is one file and one line: its class in `streams.commands.ingest.CONNECTORS` names
its subcommand, adds its own arguments and builds itself; the CLI knows no source by name."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from streams import cli
from streams.commands import ingest
from streams.config import BrandsConfig
from streams.sources.base import ConnectorClass, SourceSink

BRANDS_TOML = ('[[brand]]\nname = "acme"\n'
               'handles = { bluesky = ["did:plc:abcdefghijklmnopqrstuvwx"] }\n')


class TideGauge:
    """A source that exists only in this test."""

    source = "tide"
    help = "a made-up source"
    metrics_port = 9199
    built: ClassVar[list[argparse.Namespace]] = []

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--harbour", required=True, help="which harbour")

    @classmethod
    def from_args(cls, args: argparse.Namespace, brands: BrandsConfig) -> TideGauge:
        cls.built.append(args)
        return cls()

    async def run(self, sink: SourceSink, stop: asyncio.Event) -> None:
        return None


def test_every_registered_connector_is_a_subcommand_with_its_own_arguments() -> None:
    assert set(ingest.CONNECTORS) == {"bluesky", "mastodon", "webhook", "chatwoot"}
    parser = cli.build_parser()
    args = parser.parse_args(["ingest", "webhook", "--brands", "b.toml", "--out", "x.jsonl",
                              "--listen", "127.0.0.1:0"])
    assert (args.source, args.listen, args.metrics_port) == ("webhook", "127.0.0.1:0", None)
    args = parser.parse_args(["ingest", "mastodon", "--brands", "b.toml", "--broker",
                              "kafka://h:9092", "--instance", "https://m.example"])
    assert (args.instance, args.cursor_file) == ("https://m.example", None)  # state dir
    with pytest.raises(SystemExit):
        parser.parse_args(["ingest", "webhook", "--brands", "b.toml", "--out", "x",
                           "--instance", "https://m.example"])  # mastodon's, not webhook's


def test_a_new_source_is_one_class_registered_in_one_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gauge: ConnectorClass = TideGauge
    monkeypatch.setitem(ingest.CONNECTORS, "tide", gauge)
    ran: list[tuple[object, int]] = []

    def run_ingest(connector: object, writer: object, port: int, host: str) -> int:
        ran.append((connector, port))
        return 0

    monkeypatch.setattr(ingest, "run_ingest", run_ingest)
    brands = tmp_path / "brands.toml"
    brands.write_text(BRANDS_TOML, encoding="utf-8")
    out = tmp_path / "tide.jsonl"
    assert cli.main(["ingest", "tide", "--brands", str(brands), "--out", str(out),
                     "--harbour", "Brest"]) == 0
    assert TideGauge.built[-1].harbour == "Brest"
    connector, port = ran[0]
    assert isinstance(connector, TideGauge) and port == TideGauge.metrics_port


def test_commands_other_than_ingest_do_not_import_the_connectors() -> None:
    probe = ("import sys; from streams.cli import build_parser; "
             "build_parser(connectors=False).parse_args(['crisis', 'list']); "
             "print(sorted(m for m in sys.modules if m.startswith(('streams.commands.ingest', "
             "'streams.sources', 'aiohttp'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_the_configuration_makes_no_network_call() -> None:
    """Handles resolve in the Bluesky source when it starts, not when a file is read."""
    import ast

    import streams.config

    tree = ast.parse(Path(streams.config.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in ("urllib", "http", "socket",
                                                           "aiohttp", "requests")}
