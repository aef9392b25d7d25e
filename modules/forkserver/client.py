"""Clients of the fork server: the agent (`ForkServer`: start it, have it fork module processes, hear of
their exits) and a module process (`hash_worker`: have it fork a hash worker for this module)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from m4d.modules.forkserver import wire
from m4d.modules.forkserver.server import ENVIRONMENT

log = logging.getLogger("m4d.forkserver")

MAIN = "from m4d.modules.forkserver.server import main; main()"
# Modules find the server that forks their hash workers here (an abstract socket address).
ADDRESS_ENV = "M4D_FORK_SERVER"
# The server imports pyarrow and the modules before it answers: seconds, more on a loaded machine.
READY_TIMEOUT = 120.0
REPLY_TIMEOUT = 30.0


class ForkServerError(RuntimeError):
    """The fork server could not start a process (the caller starts it the ordinary way instead)."""


def address_for(workdir: Path) -> str:
    """The server's address for an agent's run directory: stable, so modules that outlive their agent
    reach the server of the next one."""
    digest = hashlib.sha256(str(workdir.absolute()).encode()).hexdigest()[:24]
    return wire.abstract_address(f"m4d-forkserver-{digest}")


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class ForkServer:
    """The agent's fork server, started on first use (or by `start`) and again after it died."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._calls: dict[int, _Call] = {}
        self._ids = itertools.count(1)
        self._exits: dict[int, int] = {}
        self._exited = threading.Condition()
        self._closed = False
        self.loaded: dict[str, Any] = {}  # the server's word once it has loaded: its pid, its threads

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> bool:
        """Start the server if needed and wait until it has loaded the modules' code."""
        self.start()
        return self._ready.wait(timeout)

    def start(self) -> None:
        """Start the server unless it runs (returns at once: it loads in the background)."""
        with self._lock:
            if self._closed:
                raise ForkServerError("the fork server was closed")
            if self._sock is not None:
                return
            ours, theirs = wire.pair()
            env = {**os.environ, **ENVIRONMENT}
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-c", MAIN, str(theirs.fileno()), self.address or ""],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    env=env,
                )
            except OSError as error:
                ours.close()
                raise ForkServerError(f"cannot start the fork server: {error}") from None
            finally:
                theirs.close()
            self._sock, self._proc = ours, proc
            self._ready.clear()
            threading.Thread(target=self._listen, args=(ours, proc), name="fork-server", daemon=True).start()

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str], log_file: Path) -> int:
        """Fork a process running the `m4d` command line `argv`; its pid. ForkServerError if that fails."""
        if not self.wait_ready():
            raise ForkServerError(f"the fork server was not ready within {READY_TIMEOUT:.0f} s")
        call, ident = _Call(), next(self._ids)
        request = {"op": "spawn", "id": ident, "argv": argv, "cwd": str(cwd), "env": env, "log": str(log_file)}
        with self._lock:
            sock = self._sock
            self._calls[ident] = call
        try:
            if sock is None:
                raise ForkServerError("the fork server stopped")
            with self._send_lock:
                wire.send(sock, request)
            if not call.done.wait(REPLY_TIMEOUT):
                raise ForkServerError(f"the fork server did not answer within {REPLY_TIMEOUT:.0f} s")
        except OSError as error:
            raise ForkServerError(f"the fork server stopped: {error}") from None
        finally:
            with self._lock:
                self._calls.pop(ident, None)
        reply = call.reply
        if reply is None:
            raise ForkServerError("the fork server stopped")
        if "pid" not in reply:
            raise ForkServerError(str(reply.get("error", "no pid in the answer")))
        return int(reply["pid"])

    def exit_code(self, pid: int, wait: float = 0.0) -> int | None:
        """A forked process's exit status once the server reported it (waiting up to `wait` seconds)."""
        deadline = time.monotonic() + wait
        with self._exited:
            while pid not in self._exits:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._sock is None:
                    return None
                self._exited.wait(remaining)
            return self._exits.pop(pid)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the server (the processes it started run on)."""
        with self._lock:
            self._closed = True
            sock, proc = self._sock, self._proc
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if proc is not None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _listen(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        """Answers, exit reports and the server's end, until it hangs up."""
        try:
            while True:
                try:
                    message, fds = wire.receive(sock)
                except (OSError, wire.WireError):
                    break
                wire.close_all(fds)
                if message is None:
                    break
                if message.get("ready"):
                    log.info("fork server %d loaded the modules' code (%s threads)", proc.pid, message.get("threads"))
                    self.loaded = message
                    self._ready.set()
                elif "exited" in message:
                    with self._exited:
                        self._exits[int(message["exited"])] = int(message.get("code", -1))
                        self._exited.notify_all()
                elif "id" in message:
                    with self._lock:
                        call = self._calls.get(int(message["id"]))
                    if call is not None:
                        call.reply = message
                        call.done.set()
        finally:
            self._gone(sock, proc)

    def _gone(self, sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
                self._ready.clear()
            calls = list(self._calls.values())
        sock.close()
        for call in calls:
            call.done.set()  # no reply: the caller says the server stopped
        with self._exited:
            self._exited.notify_all()
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = proc.wait(10)
            if not self._closed:
                log.warning("the fork server exited (status %s); it starts again when next needed", code)


class ForkedProcess:
    """A process the fork server started for this one (not its child): watched through a pidfd, which
    stays tied to that very process even once its pid is reused."""

    def __init__(self, pid: int, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._pidfd = -1
            self.returncode = -1

    def poll(self) -> int | None:
        if self.returncode is None and self._pidfd >= 0 and select.select([self._pidfd], [], [], 0)[0]:
            self._ended()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            pidfd = self._pidfd
            ended = pidfd >= 0 and bool(select.select([pidfd], [], [], timeout)[0])
            if self.returncode is None:  # another thread may have seen the end (and closed the pidfd) meanwhile
                if not ended:
                    raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
                self._ended()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _ended(self) -> None:
        self.returncode = -1  # its parent, the server, has its status
        self.close()

    def close(self) -> None:
        """Stop watching (the process runs on)."""
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def __del__(self) -> None:
        self.close()


def hash_worker(memfd: int) -> ForkedProcess | None:
    """A hash worker forked by the agent's fork server for this module (pipes to it as its stdin and
    stdout), or None when there is no server to ask: the caller starts one itself."""
    address = os.environ.get(ADDRESS_ENV)
    if not address:
        return None
    requests_r, requests_w = os.pipe2(os.O_CLOEXEC)
    replies_r, replies_w = os.pipe2(os.O_CLOEXEC)
    reply: dict[str, Any] | None = None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.settimeout(10)
            sock.connect(wire.bindable(address))
            wire.send(sock, {"op": "hash-worker"}, [memfd, requests_r, replies_w, 2])
            reply, fds = wire.receive(sock)
            wire.close_all(fds)
    except (OSError, wire.WireError) as error:
        log.debug("no hash worker from the fork server at %s: %s", address, error)
    finally:
        wire.close_all([requests_r, replies_w])  # the worker's ends: it has its own copies now
    if reply is None or "pid" not in reply:
        wire.close_all([requests_w, replies_r])
        return None
    return ForkedProcess(int(reply["pid"]), os.fdopen(requests_w, "wb", buffering=0), os.fdopen(replies_r, "rb", 0))
