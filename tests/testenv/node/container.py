"""One container of a pod: its process (started through `launch.py` in its own mount namespace), its
restarts and the state a kubelet reports for it (waiting, running, terminated; lastState)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.testenv.node.images import Image
from tests.testenv.node.probes import ProbeState

LAUNCHER = Path(__file__).with_name("launch.py")
# The image's files are the host's: the checkout (an editable install points into it), its virtualenv
# and the Python it was made from. A volume mounted over a directory holding them (an emptyDir at /tmp,
# with the checkout under /tmp) must not hide them: the launcher binds them back (launch.py).
IMAGE_PATHS = sorted({str(Path(__file__).resolve().parents[3]), sys.prefix, sys.base_prefix})
TERMINATION_LOG = "/dev/termination-log"
MESSAGE_LIMIT = 4096
_PR_SET_PDEATHSIG = 1


def rfc3339(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _die_with_node() -> None:
    # The pod's processes go when the node emulator goes (a test run killed outright leaves nothing).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Launch:
    """What one start of the container needs, resolved from the pod spec."""

    argv: list[str]
    env: dict[str, str]
    working_dir: str
    mounts: list[dict[str, Any]]
    hostname: str


@dataclass
class Container:
    spec: dict[str, Any]
    image: Image | None
    directory: Path  # the container's own directory in the pod's
    restart_count: int = 0
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0  # monotonic
    finished_at: float = 0.0
    readiness: ProbeState | None = None
    liveness: ProbeState | None = None
    startup: ProbeState | None = None
    exit_code: int | None = None  # of the last run
    _log: Any = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def ready(self) -> bool:
        if not self.running or (self.startup is not None and not self.startup.result):
            return False
        return self.readiness.result if self.readiness is not None else True

    @property
    def started(self) -> bool:
        return self.running and (self.startup is None or self.startup.result)

    @property
    def termination_log(self) -> Path:
        return self.directory / "termination-log"

    def log_file(self) -> Path:
        return self.directory / f"{self.restart_count}.log"

    def start(self, launch: Launch) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.termination_log.write_text("")
        error_file = self.directory / "launch-error"
        error_file.unlink(missing_ok=True)  # the launcher writes it only if the start fails
        mounts = [
            *launch.mounts,
            {"source": str(self.termination_log), "target": self.spec.get("terminationMessagePath") or TERMINATION_LOG},
        ]
        spec = {
            "argv": launch.argv,
            "env": launch.env,
            "working_dir": launch.working_dir,
            "mounts": mounts,
            "hostname": launch.hostname,
            "scratch": str(self.directory / f"scratch-{self.restart_count}"),
            "error_file": str(error_file),
            "image_paths": IMAGE_PATHS,
        }
        spec_file = self.directory / "launch.json"
        spec_file.write_text(json.dumps(spec))
        spec_file.chmod(0o600)  # it holds the environment, secrets included
        self._log = self.log_file().open("ab")
        namespaces = ["--mount", "--uts", "--propagation", "private"]
        if os.geteuid() != 0:
            namespaces = ["--user", "--map-root-user", *namespaces]
        self.proc = subprocess.Popen(
            ["unshare", *namespaces, "--", sys.executable, str(LAUNCHER), str(spec_file)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one process group per container: stopping it stops its children
            preexec_fn=_die_with_node,  # noqa: PLW1509 - only calls prctl
        )
        self.started_at = time.monotonic()
        self.exit_code = None
        self.state = {"running": {"startedAt": rfc3339()}}

    def launch_error(self) -> str | None:
        path = self.directory / "launch-error"
        text = path.read_text() if path.exists() else ""
        return text or None

    def poll(self) -> int | None:
        """The exit code once the process ended (signals as 128+N, as container runtimes report)."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signum)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds, as a container runtime stops a container."""
        if self.proc is None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=max(grace, 0.0))
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever the main process left behind

    def message(self, code: int) -> str | None:
        """The termination message: the file, or with FallbackToLogsOnError the log's tail on failure."""
        text = self.termination_log.read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
        if not text and code != 0 and self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            lines = self.log_file().read_bytes().decode(errors="replace").splitlines()[-80:]
            text = "\n".join(lines)[-2048:]
        return text or None

    def finish(self, code: int, reason: str | None = None) -> None:
        """Record the end of the current run."""
        self.finished_at = time.monotonic()
        self.exit_code = code
        running = self.state.get("running") or {}
        terminated = {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "startedAt": running.get("startedAt") or rfc3339(),
            "finishedAt": rfc3339(),
            "containerID": self.container_id,
        }
        if (message := self.message(code)) is not None:
            terminated["message"] = message
        self.state = {"terminated": terminated}
        if self._log is not None:
            self._log.close()
            self._log = None
        self.readiness = self.liveness = self.startup = None

    @property
    def container_id(self) -> str:
        return f"m4d-node://{self.directory.parent.parent.name}-{self.name}-{self.restart_count}"

    def status(self) -> dict[str, Any]:
        image = str(self.spec.get("image") or "")
        out: dict[str, Any] = {
            "name": self.name,
            "image": image,
            "imageID": f"m4d-node://{image}",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
        }
        if self.proc is not None:
            out["containerID"] = self.container_id
        if self.last_state:
            out["lastState"] = self.last_state
        return out
