"""Descriptor exhaustion on the webhook server and the worker's HTTP server (issue 23).

Each server runs in a child process with a lowered RLIMIT_NOFILE, which then opens
/dev/null until no descriptor is left: clients that connect meanwhile wait in the listen
backlog while asyncio's accept() fails every second. The log must say so once (no
traceback per failure), and once descriptors are free again (SIGUSR1 makes the child close
them) a valid request must be served.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from streams.plumbing.ratelog import ACCEPT_EXHAUSTED, AcceptExhaustion
from streams.sources.webhook import sign

LIMIT = 64  # RLIMIT_NOFILE of the child
HELD = 20  # clients that connect while the child has no descriptor left
SECRET = "s3cret"

HOG = """
def hog():
    held = []
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            return held
"""

WEBHOOK_CHILD = """
import asyncio, logging, os, resource, signal, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from streams.commands.ingest import JsonlSink, MeteredSink
from streams.config import parse_brands
from streams.metrics import SourceMetrics
from streams.sources.webhook import WebhookConnector
{hog}
async def main():
    brands = parse_brands({{"brand": [{{"name": "acme", "handles": {{"twitter": ["acme"]}}}}]}})
    connector = WebhookConnector(brands, "127.0.0.1", 0, events_secret="{secret}")
    sink = MeteredSink(JsonlSink(sys.argv[1]), SourceMetrics(), "webhook")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    released = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, released.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(connector.run(sink, stop))
    await connector.started.wait()
    held = hog()
    print("port", connector.port, len(held), flush=True)
    await released.wait()
    for fd in held:
        os.close(fd)
    print("released", flush=True)
    await task
    print("occurrences", connector.exhaustion.occurrences, flush=True)
asyncio.run(main())
"""

WEB_CHILD = """
import logging, os, resource, signal, sys
resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from prometheus_client import CollectorRegistry
from streams.plumbing.web import WebServer
{hog}
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1, signal.SIGTERM}})
server = WebServer(CollectorRegistry())
port = server.start()
held = hog()
print("port", port, len(held), flush=True)
signal.sigwait({{signal.SIGUSR1}})
for fd in held:
    os.close(fd)
print("released", flush=True)
signal.sigwait({{signal.SIGTERM}})
server.stop()
print("occurrences", server.exhaustion.occurrences, flush=True)
"""


def child(code: str, stderr: Path, *args: str) -> subprocess.Popen[str]:
    """The child, its stderr to a file (a flood must not block it on a full pipe)."""
    source = textwrap.dedent(code).format(limit=LIMIT, hog=HOG, secret=SECRET)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    with stderr.open("w") as errors:
        return subprocess.Popen([sys.executable, "-c", source, *args], stdout=subprocess.PIPE,
                                stderr=errors, text=True, env=env)


def request(port: int, head: str, body: bytes = b"", timeout: float = 10.0) -> bytes:
    """Send one request; what the server answered up to its first line (polls until it
    is served or `timeout` passes: the server retries accept() every second)."""
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while b"\r\n" not in answer and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.split(b"\r\n", 1)[0]


def exhaust_and_recover(process: subprocess.Popen[str], serve: str,
                        stderr: Path) -> tuple[bytes, str, int]:
    """Hold HELD clients while the child has no descriptor, wait for a few failed
    accepts, free the descriptors, then `serve` one request. (status line, stderr,
    occurrences)."""
    assert process.stdout is not None
    try:
        ready = process.stdout.readline().split()
        assert ready[:1] == ["port"], ready
        port, hogged = int(ready[1]), int(ready[2])
        assert hogged > 0
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(HELD)]
        time.sleep(3.5)  # let asyncio fail accept() about three times (it retries every 1 s)
        process.send_signal(signal.SIGUSR1)
        assert process.stdout.readline().strip() == "released"
        if serve == "webhook":
            body = b'{"side":"audience","id":"after","brand":"acme","platform":"twitter",' \
                   b'"author":"jane","text":"help","created_at":"2024-01-01T00:00:00Z"}\n'
            status = request(port, "POST /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             f"X-Hub-Signature-256: {sign(SECRET, body)}\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n", body)
        else:
            status = request(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close"
                             "\r\n\r\n")
        for sock in held:
            sock.close()
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    occurrences = int(stdout.split()[-1])
    return status, stderr.read_text(), occurrences


@pytest.mark.parametrize("server", ["webhook", "web"])
def test_descriptor_exhaustion_is_logged_once_and_the_server_recovers(
        server: str, tmp_path: Path) -> None:
    errors = tmp_path / "stderr"
    process = child(WEBHOOK_CHILD if server == "webhook" else WEB_CHILD, errors,
                    str(tmp_path / "out.jsonl"))
    status, stderr, occurrences = exhaust_and_recover(process, server, errors)
    print(f"{server}: {occurrences} failed accepts, "
          f"{len(stderr.splitlines())} stderr lines")
    assert status.startswith(b"HTTP/1.1 200"), (status, stderr)
    assert occurrences >= 2, stderr  # asyncio tried again, and again...
    assert sum("cannot accept connections" in line for line in stderr.splitlines()) == 1, stderr
    assert ACCEPT_EXHAUSTED not in stderr and "Traceback" not in stderr, stderr
    if server == "webhook":
        assert b'"id":"after"' in (tmp_path / "out.jsonl").read_bytes()


def test_exhaustion_lines_are_one_then_a_summary_every_30_s(
        caplog: pytest.LogCaptureFixture) -> None:
    """Ten minutes of failed accepts, one a second: 20 lines, not 600; any other loop
    error still reaches the previous handler."""
    now = [0.0]
    handler = AcceptExhaustion(logging.getLogger("t"), "webhook", clock=lambda: now[0])
    loop = asyncio.new_event_loop()
    others: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: others.append(context))
    try:
        handler.install(loop)
        with caplog.at_level(logging.WARNING):
            for _ in range(600):
                loop.call_exception_handler({"message": ACCEPT_EXHAUSTED,
                                             "exception": OSError(24, "Too many open files")})
                now[0] += 1.0
            loop.call_exception_handler({"message": "something else"})
            # a retry asyncio scheduled that fires after the server closed: part of the fault
            loop.call_exception_handler({
                "message": "Exception in callback BaseSelectorEventLoop._start_serving()",
                "exception": ValueError("Invalid file descriptor: -1")})
        handler.uninstall(loop)
        assert loop.get_exception_handler() is not handler
    finally:
        loop.close()
    assert handler.occurrences == 600 and handler.late_retries == 1
    assert len(caplog.records) == 20
    assert "Too many open files" in caplog.records[0].message
    assert "more since the last line" in caplog.records[1].message
    assert [c["message"] for c in others] == ["something else"]
