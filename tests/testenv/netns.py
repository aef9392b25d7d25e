"""A private network namespace for a server that cannot be told to listen on loopback only.

Argo CD's application controller serves its metrics on 0.0.0.0:<port>, hard-coded (v3.6.1,
controller/appcontroller.go). Test servers listen on 127.0.0.1 only, so the controller runs in a network
namespace of its own: there 0.0.0.0 means that namespace's loopback, reachable from nowhere else. What it
must reach outside (API servers, Redis, the repo-server) is relayed into the namespace on the same
127.0.0.1 port numbers, so URLs, kubeconfigs and certificates (issued for 127.0.0.1) stay as they are;
what the tests must reach inside (its health endpoint) is relayed out to a free loopback port.

Namespaces are per thread in Linux: a short-lived helper thread enters the namespace, makes the sockets it
needs there, and ends; a socket keeps the namespace it was made in. Needs CAP_SYS_ADMIN (root), as the
rest of `make test` (apt-get) does.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_CHUNK = 1 << 16

T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceError(RuntimeError):
    """The namespace could not be made or entered (typically: not root)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise NamespaceError(f"{what} failed: {os.strerror(errno)} (a private network namespace needs root)")


def _in_thread(fn: Callable[[], T]) -> T:
    """Run `fn` in a fresh thread (whose namespace changes cannot leak into the caller) and return its result."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=run, name="netns-helper")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _bring_up_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    return sock


class _Connection:
    """One relayed connection: two sockets, a pump each way; closed when both pumps are done."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.sockets = (client, upstream)
        self._lock = threading.Lock()
        self._running = 2

    def start(self, on_done: Callable[[_Connection], None]) -> None:
        client, upstream = self.sockets
        for source, target in ((client, upstream), (upstream, client)):
            args = (source, target, on_done)
            threading.Thread(target=self._pump, args=args, daemon=True, name="netns-relay").start()

    def _pump(self, source: socket.socket, target: socket.socket, on_done: Callable[[_Connection], None]) -> None:
        try:
            while chunk := source.recv(_CHUNK):
                target.sendall(chunk)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.close()
            on_done(self)

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class NetNamespace:
    """A network namespace with only a loopback interface, held open by a file descriptor."""

    def __init__(self) -> None:
        def make() -> int:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            _bring_up_loopback()
            return fd

        self.fd = _in_thread(make)
        self._listeners: list[socket.socket] = []
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def _inside(self, fn: Callable[[], T]) -> T:
        def run() -> T:
            _check(_libc.setns(self.fd, CLONE_NEWNET), "setns")
            return fn()

        return _in_thread(run)

    def enter(self) -> None:
        """For a child process between fork and exec (Popen's preexec_fn): move it into the namespace."""
        if _libc.setns(self.fd, CLONE_NEWNET) != 0:
            os._exit(127)

    def relay_in(self, port: int) -> None:
        """127.0.0.1:`port` inside the namespace reaches 127.0.0.1:`port` outside."""
        listener = self._inside(lambda: _listen(port))
        self._serve(listener, lambda: socket.create_connection(("127.0.0.1", port), timeout=10))

    def relay_out(self, port: int) -> int:
        """A free port on the outside loopback that reaches 127.0.0.1:`port` inside; returns it."""
        listener = _listen(0)

        def connect() -> socket.socket:
            return self._inside(lambda: socket.create_connection(("127.0.0.1", port), timeout=10))

        self._serve(listener, connect)
        return int(listener.getsockname()[1])

    def _serve(self, listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
        self._listeners.append(listener)

        def accept_loop() -> None:
            while not self._closed.is_set():
                try:
                    client, _ = listener.accept()
                except OSError:
                    return  # closed
                try:
                    upstream = connect()
                except OSError:
                    client.close()  # the caller sees a reset, as if nothing listened
                    continue
                upstream.settimeout(None)
                connection = _Connection(client, upstream)
                with self._lock:
                    self._connections.add(connection)
                connection.start(self._forget)

        threading.Thread(target=accept_loop, daemon=True, name="netns-accept").start()

    def _forget(self, connection: _Connection) -> None:
        with self._lock:
            self._connections.discard(connection)

    def close(self) -> None:
        """Stop relaying: listeners and open connections are closed (the namespace goes with its last user)."""
        self._closed.set()
        for listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._listeners.clear()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for connection in connections:
            connection.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)
