"""Supervised local module processes: the embedded default's stand-in for Deployments and Jobs.

A process is started from its module's command with `{config}`, `{ready_file}` and `{port}` filled in.
The platform's own modules (`m4d module ...`) are forked by the agent's fork server when it has one
(`m4d.modules.forkserver`: they share its loaded interpreter and libraries, and start in a fraction of a
second); other commands, or all of them without a fork server, run as processes of their own.
A service is ready when it writes its endpoint to the ready file; a job is done when it exits 0. A
service that exits is restarted with exponential backoff; a job that fails is retried a few times,
then reported failed. Every change of state calls `on_change`, so the agent reports within moments,
not on a polling period.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from m4d.api.blueprint import ModuleState
from m4d.api.common import Endpoint
from m4d.controllers.agent.adoption import DETACHED, Handle, Watched, adoptable, stop_leftovers, terminate
from m4d.modules.forkserver import ForkServer, ForkServerError, instance
from m4d.modules.forkserver import client as forkserver

log = logging.getLogger("m4d.agent")

RESTART_BASE = 0.5
RESTART_MAX = 30.0
JOB_RETRIES = 3
_READY_POLL = 0.05
# Once a service is ready or while a job runs, how often its process is looked at (a forked one wakes its
# watcher at once when it exits).
_ALIVE_POLL = 0.5


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

    @property
    def platform_module(self) -> bool:
        """One of the platform's own commands (`m4d ...`), run with the agent's interpreter and code."""
        return bool(self.command) and self.command[0] == "m4d"

    def words(self) -> list[str]:
        values = {"config": str(self.config_file), "ready_file": str(self.ready_file), "port": "0"}
        return [part.format(**values) for part in self.command]

    def argv(self) -> list[str]:
        argv = self.words()
        if self.platform_module:
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


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


@dataclass
class _Running:
    spec: ProcessSpec
    state: ModuleState = field(default_factory=ModuleState)
    process: Handle | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    detached: bool = False  # stopped being watched, left running (detach_all)
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
    def __init__(self, on_change: Callable[[str], None] | None = None, fork_server: ForkServer | None = None) -> None:
        self._procs: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._on_change = on_change or (lambda key: None)
        self.fork_server = fork_server

    def warm(self) -> None:
        """Start the fork server now, so it has loaded the modules' code before the first is needed."""
        if self.fork_server is not None:
            try:
                self.fork_server.start()
            except ForkServerError as error:
                log.warning("%s; modules start as processes of their own", error)

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
        terminate(running.process, timeout)  # one still being started is stopped by its thread
        if running.thread is not None:
            running.thread.join(timeout)

    def remove(self, prefix: str, directory: Path, keep: Collection[str] = ()) -> None:
        """Stop the instances whose keys start with `prefix` and delete their run directories under
        `directory` (one per instance, named as the key's last part), except those in `keep` (last parts).

        Nothing is left behind: instances are found on disk too, so a process no supervisor watches (its
        Blueprint went while the agent was down) is stopped, and a directory (its configuration names the
        application's token) goes with its process.
        """
        for key in sorted(self.running_keys()):
            if key.startswith(prefix) and key[len(prefix) :] not in keep:
                self.stop(key)
        try:
            instances = [d for d in directory.iterdir() if d.is_dir() and d.name not in keep]
        except FileNotFoundError:
            return
        for workdir in instances:
            stopped = stop_leftovers(workdir)
            if stopped:
                log.info("module %s%s: stopped unsupervised process %s", prefix, workdir.name, stopped)
            shutil.rmtree(workdir, ignore_errors=True)
        if not keep:
            with contextlib.suppress(OSError):
                directory.rmdir()  # empty now (unless something else was put there); its namespace's stays

    def stop_all(self) -> None:
        for key in sorted(self.running_keys()):
            self.stop(key)
        if self.fork_server is not None:
            self.fork_server.close()

    def detach_all(self) -> None:
        """Stop watching without stopping the modules: a restarted agent adopts them. The fork server
        stops (it never outlives its agent); the modules it started run on."""
        with self._lock:
            running = list(self._procs.values())
            self._procs.clear()
        for r in running:
            r.detached = True
            r.stopping.set()
        for r in running:
            if r.thread is not None:
                r.thread.join(5)
            DETACHED.append(r.process)
        if self.fork_server is not None:
            self.fork_server.close()

    def pid(self, key: str) -> int | None:
        with self._lock:
            running = self._procs.get(key)
            return running.process.pid if running and running.process else None

    def _set(self, running: _Running, **changes: object) -> None:
        new = running.state.model_copy(update=changes)
        if new != running.state:
            running.state = new
            self._on_change(running.spec.key)

    def _start(self, running: _Running) -> Handle:
        spec = running.spec
        adopted = adoptable(spec.workdir, spec.config_file, spec.config_text, spec.platform_module, spec.reloads_config)
        if adopted is not None:
            log.info("module %s: adopting running process %d", spec.key, adopted.pid)
            if _read(spec.config_file) != spec.config_text:
                _write_config(spec)  # a module that reloads its configuration is handed the new one
            return adopted
        _write_config(spec)
        spec.ready_file.unlink(missing_ok=True)
        env = {**os.environ, **dict(spec.env)}
        server = self.fork_server
        if spec.platform_module:
            env[instance.ENV] = str(spec.workdir)  # the module takes the instance's lock and writes its pid
            if server is not None and server.address:
                env[forkserver.ADDRESS_ENV] = server.address  # where its hash workers come from
        if spec.platform_module and server is not None:
            try:
                return Watched(server.spawn(spec.words(), spec.workdir, env, spec.log_file), server.exit_code)
            except ForkServerError as error:
                log.warning("module %s: %s; starting it as a process of its own", spec.key, error)
        with spec.log_file.open("ab") as log_out:
            process = subprocess.Popen(
                spec.argv(), cwd=spec.workdir, stdout=log_out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        if not spec.platform_module:
            (spec.workdir / instance.PID).write_text(str(process.pid))
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

    @staticmethod
    def _pause(running: _Running, process: Handle, seconds: float) -> None:
        """Wait up to `seconds` for the process to end or the instance to be stopped."""
        if isinstance(process, Watched):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(seconds)  # a pidfd: wakes at once when it exits
        else:
            running.stopping.wait(seconds)

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
                        continue
                    running.stopping.wait(_READY_POLL)
                else:
                    self._pause(running, process, _ALIVE_POLL)
            if running.stopping.is_set():
                if not running.detached:
                    terminate(process, 10.0)  # stopped while it was being started
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
