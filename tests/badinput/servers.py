"""A connector server that misbehaves on purpose: wrong bytes, wrong status, too much, too slow, nothing.

It listens on a free port of 127.0.0.1 and answers every POST as its current `Behaviour` says, so one
server serves a whole module of cases. Answers are written on the raw socket, so a case can send what no
well-behaved HTTP library would (a body that trickles in, headers and then silence, a lying length).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Behaviour:
    body: bytes = b"{}"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    byte_every: float = 0.0  # seconds between single bytes of the body (a trickle)
    silent_after_headers: float = 0.0  # seconds to say nothing once the headers are out
    silent_before_headers: float = 0.0
    gzip: bool = False
    close_early: bool = False  # announce the whole body, send half of it, hang up
    by_asset: dict[str, Behaviour] = field(default_factory=dict)  # another behaviour for these asset ids


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = self.rfile.read(length)
        b = self.server.behaviour
        try:
            asset = json.loads(request).get("assetID")
        except (ValueError, AttributeError):
            asset = None
        b = b.by_asset.get(asset, b) if isinstance(asset, str) else b
        body = gzip.compress(b.body) if b.gzip else b.body
        # The client giving up (a broken pipe) is what the slow cases wait for.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(b, body)

    def _answer(self, b: Behaviour, body: bytes) -> None:
        if self._wait(b.silent_before_headers):
            return
        self.send_response(b.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if b.gzip:
            self.send_header("Content-Encoding", "gzip")
        for key, value in b.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.flush()
        if self._wait(b.silent_after_headers):
            return
        if b.close_early:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if not b.byte_every:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            if self._wait(b.byte_every):
                return

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server stops first (True: it stopped)."""
        return self.server.stopping.wait(seconds) if seconds else False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour = Behaviour()
    stopping: threading.Event


@dataclass
class Misbehaving:
    server: _Server

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def behave(self, behaviour: Behaviour) -> None:
        self.server.behaviour = behaviour


@contextmanager
def misbehaving() -> Iterator[Misbehaving]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Misbehaving(server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()


def closed_port() -> str:
    """A URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    time.sleep(0)
    return f"http://127.0.0.1:{port}"
