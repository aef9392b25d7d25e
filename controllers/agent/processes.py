"""Supervised local module processes: the embedded default's stand-in for Deployments and Jobs.

A process is started from its module's command with `{config}`, `{ready_file}` and `{port}` filled in.
A service is ready when it writes its endpoint to the ready file; a job is done when it exits 0. A
service that exits is restarted with exponential backoff; a job that fails is retried a few times,
then reported failed. Every change of state calls `on_change`, so the agent reports within moments,
not on a polling period.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from m4d.api.blueprint import ModuleState
from m4d.api.common import Endpoint

log = logging.getLogger("m4d.agent")

RESTART_BASE = 0.5
RESTART_MAX = 30.0
JOB_RETRIES = 3
_READY_POLL = 0.05
# Processes left running by detach_all: kept referenced so they are not reaped or warned about.
_DETACHED: list[object] = []


@dataclass(frozen=True)
class ProcessSpec:
    key: str  # unique per module instance: <blueprint namespace>/<blueprint name>/<instance>
    command: tuple[str, ...]
    workdir: Path
    config_text: str
    kind: Literal["Service", "Job"] = "Service"
    protocol: str = "fybrik-arrow-flight"
    env: tuple[tuple[str, str], ...] = ()
    reloads_config: bool = False  # the module applies a changed configuration file itself

    @property
    def config_file(self) -> Path:
        return self.workdir / "config.yaml"

    @property
    def ready_file(self) -> Path:
        return self.workdir / "ready.json"

    @property
    def log_file(self) -> Path:
        return self.workdir / "module.log"

    def argv(self) -> list[str]:
        values = {"config": str(self.config_file), "ready_file": str(self.ready_file), "port": "0"}
        argv = [part.format(**values) for part in self.command]
        if argv and argv[0] == "m4d":
            # The platform's own modules run with the agent's interpreter, whatever PATH says.
            argv = [sys.executable, "-m", "m4d.cli", *argv[1:]]
        return argv


def _write_config(spec: ProcessSpec) -> None:
    """The configuration file, replaced whole (never read half-written by a module that reloads it)."""
    spec.workdir.mkdir(parents=True, exist_ok=True)
    partial = spec.config_file.with_name(spec.config_file.name + ".partial")
    partial.write_text(spec.config_text)
    partial.chmod(0o600)
    partial.replace(spec.config_file)


class _Adopted:
    """A module process left running by a previous agent: watched through its pid, as a Popen would be."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int | None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)  # reaps it if it happens to be our child
            if pid == self.pid:
                code = os.waitstatus_to_exitcode(status)
                for detached in _DETACHED:  # it was ours all along: let its Popen know it is done
                    if isinstance(detached, subprocess.Popen) and detached.pid == self.pid:
                        detached.returncode = code
                return code
        except ChildProcessError:
            pass
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return -1
        except PermissionError:
            return None
        return None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(_READY_POLL)
        return -1


Handle = subprocess.Popen[bytes] | _Adopted


def _instances(config_file: Path) -> list[int]:
    """Live processes running with this instance's configuration file (found by command line, so even one
    whose pid file was never written, because its agent died while starting it, is found)."""
    needle = str(config_file).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "cmdline").read_bytes() and _Adopted(int(proc.name)).poll() is None:
                found.append(int(proc.name))
        except OSError:
            continue
    return sorted(found)


def _adoptable(spec: ProcessSpec) -> _Adopted | None:
    """A previous agent's process for this instance, if it still runs this very configuration.

    Modules outlive an agent restart (as pods outlive a kubelet restart); adopting them keeps endpoints
    stable. Leftovers running another configuration, or more than one, are stopped.
    """
    found = [_Adopted(pid) for pid in _instances(spec.config_file) if pid != os.getpid()]
    if not found:
        return None
    try:
        same = spec.config_file.read_text() == spec.config_text
    except OSError:
        same = False
    keep = found[0] if same else None
    for process in found:
        if process is not keep:
            Supervisor._terminate(process, 10.0)
    return keep


@dataclass
class _Running:
    spec: ProcessSpec
    state: ModuleState = field(default_factory=ModuleState)
    process: Handle | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


def _tail(path: Path, lines: int = 5) -> str:
    """What a module said last, for its status: its `error:` line when it printed one (modules keep those
    data-free, while a log line may quote data), else the last lines."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    errors = [line for line in text if line.startswith("error: ")]
    return " | ".join(errors[-1:] if errors else text[-lines:])


class Supervisor:
    def __init__(self, on_change: Callable[[str], None] | None = None) -> None:
        self._procs: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._on_change = on_change or (lambda key: None)

    def ensure(self, spec: ProcessSpec) -> ModuleState:
        """Run `spec`: restart the instance if its command changed, or its configuration and it does not
        reload it; give a running module that does its new configuration file (same process, endpoint)."""
        with self._lock:
            current = self._procs.get(spec.key)
            if current is not None and current.spec == spec:
                return current.state
            if current is not None and self._reconfigurable(current, spec):
                _write_config(spec)
                current.spec = spec  # a restart from now on starts from the new configuration too
                log.info("module %s: configuration handed to the running process", spec.key)
                return current.state
        if current is not None:
            self.stop(spec.key)
        running = _Running(spec)
        with self._lock:
            self._procs[spec.key] = running
        running.thread = threading.Thread(
            target=self._supervise, args=(running,), name=f"module {spec.key}", daemon=True
        )
        running.thread.start()
        return running.state

    @staticmethod
    def _reconfigurable(current: _Running, spec: ProcessSpec) -> bool:
        same_but_config = replace(current.spec, config_text=spec.config_text) == spec
        running = current.process is not None and current.process.poll() is None
        return spec.reloads_config and same_but_config and running and not current.stopping.is_set()

    def state(self, key: str) -> ModuleState | None:
        with self._lock:
            running = self._procs.get(key)
            return running.state if running else None

    def running_keys(self) -> set[str]:
        with self._lock:
            return set(self._procs)

    def stop(self, key: str, timeout: float = 10.0) -> None:
        with self._lock:
            running = self._procs.pop(key, None)
        if running is None:
            return
        running.stopping.set()
        self._terminate(running.process, timeout)
        if running.thread is not None:
            running.thread.join(timeout)

    def stop_all(self) -> None:
        for key in sorted(self.running_keys()):
            self.stop(key)

    def detach_all(self) -> None:
        """Stop watching without stopping the modules: a restarted agent adopts them."""
        with self._lock:
            running = list(self._procs.values())
            self._procs.clear()
        for r in running:
            r.stopping.set()
            _DETACHED.append(r.process)
        for r in running:
            if r.thread is not None:
                r.thread.join(5)

    def pid(self, key: str) -> int | None:
        with self._lock:
            running = self._procs.get(key)
            return running.process.pid if running and running.process else None

    @staticmethod
    def _terminate(process: Handle | None, timeout: float) -> None:
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        except ProcessLookupError:
            pass

    def _set(self, running: _Running, **changes: object) -> None:
        new = running.state.model_copy(update=changes)
        if new != running.state:
            running.state = new
            self._on_change(running.spec.key)

    def _start(self, running: _Running) -> Handle:
        adopted = _adoptable(running.spec)
        if adopted is not None:
            log.info("module %s: adopting running process %d", running.spec.key, adopted.pid)
            return adopted
        spec = running.spec
        _write_config(spec)
        spec.ready_file.unlink(missing_ok=True)
        env = {**os.environ, **dict(spec.env)}
        with spec.log_file.open("ab") as log_out:
            process = subprocess.Popen(
                spec.argv(), cwd=spec.workdir, stdout=log_out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        (spec.workdir / "pid").write_text(str(process.pid))
        return process

    def _read_endpoint(self, spec: ProcessSpec) -> Endpoint | None:
        try:
            data = json.loads(spec.ready_file.read_text())
        except (OSError, ValueError):
            return None
        try:
            return Endpoint(
                protocol=str(data.get("protocol", spec.protocol)),
                scheme=str(data.get("scheme", "grpc")),
                hostname=str(data["hostname"]),
                port=int(data["port"]),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def _supervise(self, running: _Running) -> None:
        spec = running.spec
        failures = 0
        while not running.stopping.is_set():
            try:
                process = self._start(running)
            except OSError as exc:
                self._set(running, phase="Failed", message=f"cannot start {spec.command[0]}: {exc.strerror or exc}")
                return
            running.process = process
            while process.poll() is None and not running.stopping.is_set():
                if spec.kind == "Service" and running.state.phase != "Ready":
                    endpoint = self._read_endpoint(spec)
                    if endpoint is not None:
                        failures = 0
                        self._set(running, phase="Ready", endpoint=endpoint, message=None)
                time.sleep(_READY_POLL)
            if running.stopping.is_set():
                return
            code = process.wait()
            if spec.kind == "Job" and code == 0:
                self._set(running, phase="Completed", message=None, endpoint=None)
                return
            failures += 1
            why = f"exited with status {code}" + (f": {_tail(spec.log_file)}" if _tail(spec.log_file) else "")
            if spec.kind == "Job" and failures > JOB_RETRIES:
                self._set(running, phase="Failed", message=f"job {why} (after {failures} attempts)", endpoint=None)
                return
            delay = min(RESTART_BASE * 2 ** (failures - 1), RESTART_MAX)
            log.warning("module %s %s; restarting in %.1fs", spec.key, why, delay)
            phase = "Failed" if failures >= 3 and spec.kind == "Service" else "Pending"
            self._set(running, phase=phase, message=why[:1000], endpoint=None, restarts=running.state.restarts + 1)
            if running.stopping.wait(delay):
                return
