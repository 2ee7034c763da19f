"""Fixtures for the ops-kit tests: repository paths and a throw-away Prometheus server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_prometheus(
    workdir: Path, config: str, *extra_args: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Start prometheus on 127.0.0.1 with `config`; returns (process, base URL) once ready.

    Raises RuntimeError (after stopping the process) if it is not ready within the timeout.
    """
    binary = shutil.which("prometheus")
    if binary is None:
        raise FileNotFoundError("prometheus")
    (workdir / "prometheus.yml").write_text(config, encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return proc, url
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop_process(proc)
    tail = (workdir / "prometheus.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"prometheus did not become ready:\n{tail}")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill after a bounded wait: never leave a server behind."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def repo() -> Path:
    """Repository root, so tests do not depend on the working directory."""
    return REPO


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool, or skip: Debian's `prometheus` package provides it."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool not installed (apt-get install -y --no-install-recommends prometheus)"
        )
    return path


@pytest.fixture(scope="session")
def empty_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus with no targets: used as a PromQL parser (bad syntax -> HTTP 400)."""
    if shutil.which("prometheus") is None:
        pytest.skip(
            "prometheus not installed (apt-get install -y --no-install-recommends prometheus)"
        )
    workdir = tmp_path_factory.mktemp("prometheus-empty")
    proc, url = start_prometheus(workdir, "global:\n  scrape_interval: 1m\n")
    try:
        yield url
    finally:
        stop_process(proc)
