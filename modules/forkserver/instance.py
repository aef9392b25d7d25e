"""Which process runs a module instance: the instance directory's lock, held by its process for life.

A module started for an instance directory (`M4D_INSTANCE_DIR`, set by the agent) takes an exclusive lock
on `<dir>/lock` before anything else and writes its pid to `<dir>/pid`. The kernel drops the lock when the
process ends, however it ends, so the lock answers "does this instance run?" without trusting a pid file
(pids are reused) or searching every process's command line; /proc/locks names the holder. A second
process for the same directory finds the lock taken and exits: an instance never runs twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from m4d.errors import PermanentError

ENV = "M4D_INSTANCE_DIR"
LOCK = "lock"
PID = "pid"
# A process of the same instance that is just ending (a restart) may hold the lock a moment longer.
CLAIM_WAIT = 2.0

_HELD: list[int] = []  # the lock's descriptor, open for the life of the process


class InstanceBusy(PermanentError):
    """Another live process runs this instance."""


def claim(directory: Path, wait: float = CLAIM_WAIT) -> None:
    """Take the instance's lock for this process's life and write its pid; InstanceBusy if another has it."""
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                other = holder(directory)
                raise InstanceBusy(
                    f"module instance {directory} already runs" + (f" (pid {other})" if other else "")
                ) from None
            time.sleep(0.05)
    _HELD.append(fd)
    partial = directory / f"{PID}.partial"
    partial.write_text(str(os.getpid()))
    partial.replace(directory / PID)


def holder(directory: Path) -> int | None:
    """The pid of the live process holding the instance's lock, if one does."""
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: by whom?
            return _locker(os.fstat(fd)) or _pid_file(directory)
        return None  # free (closing the descriptor lets go of it at once)
    finally:
        os.close(fd)


def _locker(st: os.stat_result) -> int | None:
    """The holder of an flock on this file, as /proc/locks names it."""
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        # "3: FLOCK  ADVISORY  WRITE 7437 fe:00:11321349 0 EOF"; "3: -> FLOCK ..." is a waiter, not a holder
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and fields[5] == device:
            with contextlib.suppress(ValueError):
                pid = int(fields[4])
                return pid if pid > 0 else None
    return None


def _pid_file(directory: Path) -> int | None:
    try:
        return int((directory / PID).read_text())
    except (OSError, ValueError):
        return None


def claim_from_environment() -> None:
    """In a module process: claim the instance directory the agent named, if it named one."""
    directory = os.environ.get(ENV)
    if directory:
        claim(Path(directory))
