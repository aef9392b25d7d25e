"""The fork server: a process that has imported the modules' code once and forks a child per module process.

Starting a module used to mean a new interpreter importing pyarrow, numpy, gRPC and the module code: seconds
of CPU, and ~50 MB of memory of its own per process (the interpreter's objects and the libraries' relocated
data are written once at start-up, so every process held a private copy). A child forked from this server
starts with all of that already in place and shares those pages with the server and every sibling until
one of them writes to a page. So it serves within a fraction of a second and costs a few MB of its own.

Rules that keep forking safe:
- The server stays single-threaded: it imports only (no gRPC server, no Flight client, no S3 filesystem,
  no thread pool; jemalloc's background thread and BLAS threads are off) and checks it has one thread
  before each fork. Whatever starts threads happens in a child, after the fork.
- Its objects are frozen out of the garbage collector (`gc.freeze`) before any fork: a collection in a
  child would otherwise write to every object's header and unshare the pages that hold them.
- A child resets what it inherited (signal handlers, the server's sockets), takes its own session, and
  never returns into the server's loop: it leaves through `os._exit`.

Two kinds of children:
- modules: an `m4d ...` command line (in practice `m4d module flight|copy ...`) run in the child as the CLI
  would run it, asked for by the agent over the control socket; the server reports each one's exit status.
- hash workers (`m4d.modules.keyed.pool`): asked for by a module process over the server's listening
  socket, with the worker's shared region and pipes passed along; they end when their module hangs up.

The server exits when the agent's end of the control socket closes (the agent stopped or was killed), so it
never outlives its agent; the modules it started run on (a restarted agent adopts them).

Run as `python -c "from m4d.modules.forkserver.server import main; main()" CONTROL_FD ADDRESS`.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import random
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from m4d.modules.forkserver import wire

# What module processes and hash workers import, loaded once here (each import is checked not to start a
# thread: see `_threads`).
PRELOAD = (
    "numpy",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.csv",
    "pyarrow.flight",
    "pyarrow.fs",
    "pyarrow.parquet",
    "m4d.credentials.vault",
    "m4d.modules.copy",
    "m4d.modules.flight.run",
    "m4d.modules.keyed.hashers",
    "m4d.modules.keyed.pool",
    "m4d.modules.sources.postgres",
)
# Set before the first import of pyarrow and numpy: no allocator or BLAS threads in the server.
ENVIRONMENT = {"JE_ARROW_MALLOC_CONF": "background_thread:false", "OPENBLAS_NUM_THREADS": "1"}
EXIT_INTERNAL = 70
BIND_WAIT = 5.0


def _threads() -> int:
    return sum(1 for _ in Path("/proc/self/task").iterdir())


@cache  # found once in the server; its children inherit the answer
def m4d_command() -> Callable[[], object]:
    """The `m4d` command's entry point, found as its console script is: the server runs m4d commands as the
    agent would run the `m4d` executable, without importing the command-line layer above this one."""
    (entry,) = entry_points(group="console_scripts", name="m4d")
    command: Callable[[], object] = entry.load()
    return command


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    m4d_command()  # the command line and every command module it lists
    gc.collect()
    gc.freeze()


class Server:
    def __init__(self, control: socket.socket, listener: socket.socket | None) -> None:
        self.control = control
        self.listener = listener
        self.modules: set[int] = set()  # children whose exit the agent hears of
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.selector.register(control, selectors.EVENT_READ, "control")
        if listener is not None:
            self.selector.register(listener, selectors.EVENT_READ, "listener")
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # the wakeup fd does the work
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the agent's to handle

    def run(self) -> None:
        # How many threads it runs after loading (one, or it would refuse to fork): for the agent's log.
        try:
            wire.send(self.control, {"ready": True, "pid": os.getpid(), "threads": _threads()})
        except OSError:
            return  # the agent ended while the server was loading: nothing to serve
        while True:
            for key, _ in self.selector.select():
                if key.data == "control" and not self._control():
                    return
                if key.data == "listener":
                    self._accept()
                if key.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._wake_r, 512):
                            pass
            self._reap()

    # -- requests ---------------------------------------------------------------------------------

    def _control(self) -> bool:
        """One request from the agent; False once it hung up."""
        try:
            message, fds = wire.receive(self.control)
        except (ConnectionError, wire.WireError):
            return False
        if message is None:
            wire.close_all(fds)
            return False
        wire.close_all(fds)
        ident = message.get("id")
        try:
            if message.get("op") != "spawn":
                raise ValueError(f"unknown request {str(message.get('op'))[:40]!r}")
            pid = self._fork(lambda: _run_module(message))
            self.modules.add(pid)
            reply: dict[str, Any] = {"id": ident, "pid": pid}
        except (OSError, ValueError, RuntimeError) as error:
            reply = {"id": ident, "error": str(error)}
        try:
            wire.send(self.control, reply)
        except OSError:
            return False  # the agent is gone
        return True

    def _accept(self) -> None:
        """A module asking for a hash worker: check it is ours (same user), fork one, tell it the pid."""
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            fds: list[int] = []
            try:
                creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                _, uid, _ = struct.unpack("3i", creds)
                message, fds = wire.receive(conn)
                if uid != os.getuid() or message is None or message.get("op") != "hash-worker" or len(fds) != 4:
                    raise ValueError("not a hash worker request")
                memfd, requests, replies, stderr = fds
                pid = self._fork(lambda: _run_hash_worker(memfd, requests, replies, stderr))
                wire.send(conn, {"pid": pid})
            except (OSError, ValueError) as error:
                with contextlib.suppress(OSError):
                    wire.send(conn, {"error": str(error)})
            finally:
                wire.close_all(fds)

    def _fork(self, body: Any) -> int:
        threads = _threads()
        if threads != 1:  # forking now could copy a lock held by another thread into the child
            raise RuntimeError(f"the fork server runs {threads} threads; it forks only with one")
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = EXIT_INTERNAL
            try:
                self._forget()
                code = body()
            except SystemExit as done:
                code = _exit_code(done.code)
            except BaseException:
                traceback.print_exc()
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):
                        stream.flush()
                os._exit(code)
        return pid

    def _forget(self) -> None:
        """In a child: drop the server's sockets and signal handling, and leave its session."""
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        self.selector.close()
        for sock in (self.control, self.listener):
            if sock is not None:
                sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        random.seed()  # not the server's sequence in every child
        gc.enable()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.modules:
                self.modules.discard(pid)
                with contextlib.suppress(OSError):
                    wire.send(self.control, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _redirect(log: str) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)


def _run_module(request: dict[str, Any]) -> int:
    """In a child: run an `m4d` command line as the `m4d` program would, in the directory, environment and
    log the agent asked for."""
    argv = [str(a) for a in request["argv"]]
    if not argv or argv[0] != "m4d":
        raise ValueError("the fork server runs m4d commands only")
    import setproctitle  # noqa: PLC0415 - the child's, after the fork

    # `ps` and /proc/PID/cmdline show the module's own command line, not the server's (set before the
    # environment changes: setproctitle finds the room it writes in through the original one).
    setproctitle.setproctitle(" ".join(argv))
    _redirect(str(request["log"]))
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in dict(request["env"]).items()})
    sys.argv = argv
    m4d_command()()  # preloaded: a lookup, not an import
    return 0


def _run_hash_worker(memfd: int, requests: int, replies: int, stderr: int) -> int:
    """In a child: serve one module's hash requests until it hangs up."""
    os.dup2(stderr, 2)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    from m4d.modules.keyed import pool  # noqa: PLC0415 - preloaded

    with os.fdopen(requests, "rb") as ins, os.fdopen(replies, "wb") as outs, contextlib.suppress(BrokenPipeError):
        pool.serve(memfd, ins, outs)
    return 0


def _listen(address: str) -> socket.socket | None:
    """The socket modules ask for hash workers on; None if it stays taken (the server of an agent that is
    just ending may hold it a moment): modules then start their workers themselves."""
    deadline = time.monotonic() + BIND_WAIT
    while True:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            listener.bind(wire.bindable(address))
            listener.listen(64)
            return listener
        except OSError as error:
            listener.close()
            if time.monotonic() > deadline:
                print(f"fork server: cannot listen on {address}: {error}", file=sys.stderr)
                return None
            time.sleep(0.1)


def main() -> None:
    # A terminal's Ctrl-C reaches the agent's whole process group: the agent handles it, and this server
    # ends when the agent's end of the control socket closes (also while it is still loading).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    control = socket.socket(fileno=int(sys.argv[1]))
    address = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    listener = _listen(address) if address is not None else None
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    preload()
    Server(control, listener).run()
