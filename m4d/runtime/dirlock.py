"""Leader election on a hub directory: one `m4d hub run` reconciles, any other waits as standby.

The embedded store takes writes from several processes, so two hubs on one directory would race (one's
full sync, from a list read before the other's commit, deleting what the other had just committed;
finalizers released twice). The leader holds an exclusive `flock` on `<hub dir>/hub.lock` for as long
as it runs. The kernel releases it when the process ends, however it ends (a crash, SIGKILL, a machine
restart), so there is no lease to expire and no clock to trust: a standby takes over within `poll`
seconds. The file names the holder, for messages only; the lock decides, not the file's content.
(A Kubernetes hub elects its leader on a Lease instead: leader.py.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from m4d.errors import PermanentError


class HubLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if no other process holds it; True if this process holds it now."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise PermanentError(f"cannot open the hub lock {self.path}: {exc.strerror}", reason="HubLock") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it ("another process" if it has not yet)."""
        with contextlib.suppress(OSError):
            text = self.path.read_text(errors="replace").strip()
            if text:
                return text
        return "another process"

    def wait(self, stop: threading.Event, poll: float = 0.5, waiting: Callable[[str], None] | None = None) -> bool:
        """Wait as standby until the lock is this process's (True) or `stop` is set (False)."""
        told = False
        while not self.try_acquire():
            if not told and waiting is not None:
                waiting(self.holder())
                told = True
            if stop.wait(poll):
                return False
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the lock
