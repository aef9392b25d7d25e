"""The demo's long-running parts as background processes, tracked by pid files so `m4d down` can stop them.

Each service is an `m4d` command (hub controllers, sync, one agent per member) with its log in
`<hub>/logs/<name>.log` and its pid in `<hub>/pids/<name>.pid`. They outlive the `m4d demo` command
when it is run with --keep.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from m4d.errors import PermanentError

# Services this process started: held so they are neither reported as leaked while they run on purpose,
# nor left as zombies once stopped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Service:
    name: str
    args: tuple[str, ...]  # arguments after `m4d --hub DIR`


def _pid_dir(hub: Path) -> Path:
    return hub / "pids"


def alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return True
    return state != "Z"


def running(hub: Path) -> dict[str, int]:
    """Services of this hub directory whose process is still alive."""
    out: dict[str, int] = {}
    for pid_file in sorted(_pid_dir(hub).glob("*.pid")):
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            continue
        if alive(pid):
            out[pid_file.stem] = pid
    return out


def start(hub: Path, service: Service, env: dict[str, str] | None = None) -> int:
    (hub / "logs").mkdir(parents=True, exist_ok=True)
    _pid_dir(hub).mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "m4d.cli", "--hub", str(hub), *service.args]
    with (hub / "logs" / f"{service.name}.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: `m4d down` stops it with what it started
            env={**os.environ, **(env or {})},
        )
    (_pid_dir(hub) / f"{service.name}.pid").write_text(str(process.pid))
    _CHILDREN[process.pid] = process
    time.sleep(0.05)
    if process.poll() is not None:
        raise PermanentError(f"{service.name} exited at once; see {hub / 'logs' / f'{service.name}.log'}")
    return process.pid


def _reap(pid: int, timeout: float) -> None:
    """Collect the exit status of a service this process started: until then a stopped child is a zombie,
    and its Popen, once dropped, says it is "still running"."""
    child = _CHILDREN.get(pid)
    if child is None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout)
        del _CHILDREN[pid]


def _strays(hub: Path, known: set[int]) -> list[int]:
    """Services this process started for `hub` that still run without a pid file (one replaced by a
    restart, or removed): stopped and reaped with the others."""
    hub_arg = str(hub)
    return [
        pid
        for pid, child in list(_CHILDREN.items())
        if pid not in known and isinstance(child.args, list) and hub_arg in child.args and alive(pid)
    ]


def stop_all(hub: Path, timeout: float = 15.0) -> list[str]:
    """Stop every service (and the module processes the agents started); names of what was stopped.

    Every service this process started is reaped before returning, whether it stopped on SIGTERM or had
    to be killed."""
    stopped = []
    live = running(hub)
    pids = [*live.values(), *_strays(hub, set(live.values()))]
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        stopped += [name for name, p in live.items() if p == pid]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        _reap(pid, 10.0)
    for pid_file in _pid_dir(hub).glob("*.pid"):
        pid_file.unlink(missing_ok=True)
    _stop_modules(hub)
    return stopped


def _stop_modules(hub: Path, timeout: float = 10.0) -> None:
    """Module processes run in their own sessions (they survive agent restarts): find them by the instance
    directory in their command line and stop them."""
    needle = str((hub / "run").resolve()).encode()
    pids: list[int] = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and alive(int(proc.name)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGTERM)
                pids.append(int(proc.name))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
