"""A server process with its log file, readiness polling and a clean stop."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

LOG_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


_issued_ports: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 right now, never one this process handed out before (the kernel may offer a
    just-closed port again, and two servers of one environment must not get the same one)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _issued_ports:
            _issued_ports.add(port)
            return port


def _die_with_parent() -> None:
    # If the test run is killed outright, the kernel stops the servers too instead of leaving them orphaned,
    # holding ports and CPU for the next run. (The signal follows the thread that started the server: start
    # servers from a thread that lives as long as they should, as pytest's main thread does.)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Server:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        cwd: Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        before_exec: Callable[[], None] | None = None,
    ) -> None:
        """`env` replaces the environment when given; `before_exec` runs in the child after fork (for
        example to enter a network namespace), so it must only make system calls."""
        self.name = name
        self.argv = list(argv)
        self.log = log
        self._handle = log.open("ab")

        def prepare() -> None:
            _die_with_parent()
            if before_exec is not None:
                before_exec()

        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            preexec_fn=prepare,  # noqa: PLW1509 - only system calls (prctl, setns), safe before exec
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, why: str) -> ServerStartError:
        return ServerStartError(
            f"{self.name} {why}.\ncommand: {' '.join(self.argv)}\n"
            f"last {LOG_TAIL_LINES} lines of {self.log}:\n{self.log_tail()}"
        )

    def wait_ready(
        self,
        url: str,
        deadline: float,
        *,
        ssl_context: ssl.SSLContext | None = None,
        token: str | None = None,
    ) -> None:
        """Poll `url` until it answers 200; raise with the log tail if the process dies or time runs out."""
        last = "no answer yet"
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        while True:
            if self.proc.poll() is not None:
                raise self.failure(f"exited with status {self.proc.returncode} before it was ready")
            try:
                with urllib.request.urlopen(request, timeout=2, context=ssl_context) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}: {error.read()[-300:].decode(errors='replace')}"
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                last = repr(error)
            if time.monotonic() > deadline:
                raise self.failure(f"was not ready at {url} in time (last answer: {last})")
            time.sleep(0.2)

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._handle.close()
