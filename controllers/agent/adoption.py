"""Module processes the supervisor watches without being their parent, and finding them again.

Modules outlive an agent restart (as pods outlive a kubelet restart); a restarted agent adopts them, which
keeps endpoints stable. It finds the platform's own modules (`m4d module ...`) by their instance lock
(`m4d.modules.forkserver.instance`), other commands by their configuration file in a process's command
line. Processes forked by the fork server are not the agent's children either: both kinds are watched
through a pidfd.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from m4d.modules.forkserver import ForkedProcess
from m4d.modules.forkserver.instance import LOCK, PID, holder

# Processes a supervisor stopped watching (detach_all): kept referenced so they are not reaped or warned
# about while they run on; another supervisor of this process may adopt them.
DETACHED: list[object] = []
# How long to wait for the fork server's report of an exit status once the process is gone.
EXIT_REPORT_WAIT = 1.0

ExitCode = Callable[[int, float], "int | None"]


class Watched:
    """A module process that is not this process's child (a previous agent's, or forked by the fork server),
    watched as a Popen would be."""

    def __init__(self, pid: int, exit_code: ExitCode | None = None) -> None:
        self.pid = pid
        self._exit_code = exit_code
        self._process = ForkedProcess(pid)
        self.returncode: int | None = None
        # The supervisor's thread and a stop may both see the end: the status is taken once (the fork
        # server reports it once), the other caller waits for it rather than for a report that never comes.
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None and self._process.poll() is not None:
                self.returncode = self._status()
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.wait(timeout)  # raises TimeoutExpired as Popen.wait does
        code = self.poll()
        assert code is not None
        return code

    def _status(self) -> int:
        with contextlib.suppress(ChildProcessError):
            pid, status = os.waitpid(self.pid, os.WNOHANG)  # reaps it if it happens to be our child
            if pid == self.pid:
                code = os.waitstatus_to_exitcode(status)
                for detached in DETACHED:  # it was ours all along: let its Popen know it is done
                    if isinstance(detached, subprocess.Popen) and detached.pid == self.pid:
                        detached.returncode = code
                return code
        reported = self._exit_code(self.pid, EXIT_REPORT_WAIT) if self._exit_code is not None else None
        return reported if reported is not None else -1


Handle = subprocess.Popen[bytes] | Watched


def terminate(process: Handle | None, timeout: float) -> None:
    """Stop a module and what it started (its process group): SIGTERM, then SIGKILL after `timeout`."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)
    except ProcessLookupError:
        pass


def _alive(proc: Path) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _by_command_line(config_file: Path) -> list[int]:
    """Live processes running with this instance's configuration file (found by command line, so even one
    whose pid file was never written, because its agent died while starting it, is found)."""
    needle = str(config_file).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "cmdline").read_bytes() and _alive(proc):
                found.append(int(proc.name))
        except OSError:
            continue
    return sorted(found)


def running_instance(workdir: Path, config_file: Path, platform_module: bool) -> list[int]:
    """Processes running this instance: the lock's holder for the platform's modules (which take it first
    thing); by command line for other commands, and for a platform module of an agent from before locks
    (a pid file but no lock: rare, as that searches every process)."""
    if platform_module:
        pid = holder(workdir)
        if pid is not None:
            return [pid] if pid != os.getpid() else []
        if not (workdir / PID).exists() or (workdir / LOCK).exists():
            return []
    return [pid for pid in _by_command_line(config_file) if pid != os.getpid()]


def adoptable(
    workdir: Path, config_file: Path, config_text: str, platform_module: bool, reloads_config: bool = False
) -> Watched | None:
    """A previous agent's process for this instance, if it still runs this very configuration (or any, for a
    module that reloads its configuration: the caller hands it the new one). Leftovers running another
    configuration, or more than one, are stopped."""
    found = [Watched(pid) for pid in running_instance(workdir, config_file, platform_module)]
    found = [process for process in found if process.poll() is None]
    if not found:
        return None
    try:
        same = reloads_config or config_file.read_text() == config_text
    except OSError:
        same = False
    keep = found[0] if same else None
    for process in found:
        if process is not keep:
            terminate(process, 10.0)
    return keep


def stop_leftovers(workdir: Path, timeout: float = 10.0) -> list[int]:
    """Stop whatever still runs the instance in `workdir` though no supervisor watches it (its agent was
    down when its Blueprint went, or it was started by one that died); the pids it stopped."""
    platform_module = (workdir / LOCK).exists()  # only the platform's modules take the lock
    pids = running_instance(workdir, workdir / "config.yaml", platform_module)
    for pid in pids:
        terminate(Watched(pid), timeout)
    return pids
