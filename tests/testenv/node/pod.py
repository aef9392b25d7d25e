"""One pod on the node: its volumes, its containers' processes, probes, restarts, status and deletion.

A worker thread per pod, level-triggered: every tick it looks at its containers and the latest pod
object, acts, and writes the status when it changed. Deleting the pod stops the containers (SIGTERM,
then SIGKILL after the grace period), writes the terminal phase and deletes the object for good, as a
kubelet does.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m4d.errors import M4DError, NotFoundError
from tests.testenv.node.api import NodeApi, Obj, dumps
from tests.testenv.node.container import Container, Launch, rfc3339
from tests.testenv.node.env import EnvError, container_env, expand
from tests.testenv.node.images import Images
from tests.testenv.node.probes import ProbeState, run_probe
from tests.testenv.node.status import Conditions, conditions, phase
from tests.testenv.node.volumes import PodVolumes, VolumeError

log = logging.getLogger("node")

TICK = 0.2
VOLUME_RESYNC = 5.0
STATUS_RESYNC = 30.0  # write the status again after this long even if unchanged (a lost write heals)


@dataclass(frozen=True)
class NodeContext:
    api: NodeApi
    name: str
    ip: str
    images: Images
    root: Path
    service_env: dict[str, str]
    backoff_base: float
    backoff_max: float


def _ports(container: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: int(p["containerPort"]) for p in container.get("ports") or [] if p.get("name")}


def _non_root_problem(pod: Obj, container: dict[str, Any], image_user: str) -> str | None:
    pod_ctx = pod["spec"].get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
    user = ctx.get("runAsUser", pod_ctx.get("runAsUser"))
    if not non_root:
        return None
    effective = str(user) if user is not None else image_user
    if effective in ("0", "root"):
        return "container has runAsNonRoot and image will run as root"
    return None


class PodWorker(threading.Thread):
    def __init__(self, node: NodeContext, pod: Obj, pod_ip: str) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.node = node
        self.pod = pod
        self.uid = str(meta["uid"])
        self.pod_ip = node.ip if pod["spec"].get("hostNetwork") else pod_ip
        self.directory = node.root / "pods" / self.uid
        self.wake = threading.Event()
        self.gone = False  # the object was removed from the API server
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._conditions = Conditions()
        self._last_status = ""
        self._last_write = 0.0
        self._restart_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._launches: dict[str, Launch] = {}
        self._start_time = rfc3339()
        self.volumes = PodVolumes(node.api, pod, self.directory, node.ip, self.pod_ip)
        self._sandbox = False
        self._volumes_synced = 0.0
        spec = pod["spec"]
        self.init_containers = [self._container(c, "init") for c in spec.get("initContainers") or []]
        self.containers = [self._container(c, "main") for c in spec.get("containers") or []]

    def _container(self, spec: dict[str, Any], kind: str) -> Container:
        image = self.node.images.resolve(str(spec.get("image") or ""))
        return Container(spec, image, self.directory / "containers" / spec["name"])

    @property
    def label(self) -> str:
        meta = self.pod["metadata"]
        return f"{meta['namespace']}/{meta['name']}"

    def update(self, pod: Obj) -> None:
        with self._lock:
            self.pod = pod
            self.volumes.pod = pod
        self.wake.set()

    def removed(self) -> None:
        self.gone = True
        self.wake.set()

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while True:
                with self._lock:
                    pod = self.pod
                if self.gone or pod["metadata"].get("deletionTimestamp"):
                    self._terminate(pod)
                    return
                self._tick(pod)
                self.wake.wait(TICK)
                self.wake.clear()
        except Exception:
            log.exception("pod %s: worker failed", self.label)
            for container in [*self.init_containers, *self.containers]:
                container.stop(0)
        finally:
            self.finished.set()

    def _tick(self, pod: Obj) -> None:
        now = time.monotonic()
        if not self._sandbox or now - self._volumes_synced > VOLUME_RESYNC:
            self._sync_volumes()
        if self._sandbox:
            initialized, _ = self._run_init(pod, now)
            if initialized and not self._terminal(pod):
                for container in self.containers:
                    self._drive(pod, container, now)
        self._write_status(pod)

    def _sync_volumes(self) -> None:
        self._volumes_synced = time.monotonic()
        try:
            self.volumes.sync()
            self._sandbox = True
        except VolumeError as error:
            if not self._sandbox:
                for c in [*self.init_containers, *self.containers]:
                    c.state = {
                        "waiting": {"reason": "ContainerCreating", "message": f"MountVolume.SetUp failed: {error}"}
                    }

    def _terminal(self, pod: Obj) -> bool:
        return self._phase(pod) in ("Succeeded", "Failed")

    def _init_state(self) -> tuple[bool, bool]:
        for c in self.init_containers:
            terminated = c.state.get("terminated")
            if not terminated or terminated["exitCode"] != 0:
                policy = self.pod["spec"].get("restartPolicy") or "Always"
                failed = bool(terminated) and policy == "Never"
                return False, failed
        return True, False

    def _run_init(self, pod: Obj, now: float) -> tuple[bool, bool]:
        initialized, failed = self._init_state()
        if initialized or failed:
            return initialized, failed
        current = next(c for c in self.init_containers if c.state.get("terminated", {}).get("exitCode") != 0)
        self._drive(pod, current, now, init=True)
        return self._init_state()

    def _phase(self, pod: Obj) -> str:
        initialized, init_failed = self._init_state()
        return phase(self.containers, pod["spec"].get("restartPolicy") or "Always", initialized, init_failed)

    # -- one container ------------------------------------------------------------------------

    def _drive(self, pod: Obj, c: Container, now: float, init: bool = False) -> None:
        policy = pod["spec"].get("restartPolicy") or "Always"
        if c.running:
            self._probe(pod, c, now)
            return
        if c.proc is not None and "running" in c.state:  # it just ended
            code = c.poll()
            error = c.launch_error()
            c.finish(128 if error else int(code or 0), "StartError" if error else None)
            if error:
                c.state["terminated"]["message"] = error
        if "terminated" in c.state:
            code = c.state["terminated"]["exitCode"]
            restart = (policy == "Always" and not init) or (policy != "Never" and code != 0)
            if not restart:
                return
            c.last_state = {"terminated": c.state["terminated"]}
            delay = self._next_backoff(c.name)
            self._restart_at[c.name] = now + delay
            c.state = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {delay:g}s restarting failed container={c.name} pod={pod['metadata']['name']}"
                    f"_{pod['metadata']['namespace']}({self.uid})",
                }
            }
        if now < self._restart_at.get(c.name, 0.0):
            return
        self._start(pod, c)

    def _next_backoff(self, name: str) -> float:
        # The first restart is immediate, then base, 2*base, ... up to the maximum (the kubelet's back-off).
        current = self._backoff.get(name)
        delay = (
            0.0
            if current is None
            else (self.node.backoff_base if current == 0 else min(current * 2, self.node.backoff_max))
        )
        self._backoff[name] = delay
        return delay

    def _start(self, pod: Obj, c: Container) -> None:
        spec = c.spec
        if c.image is None:
            reason = (
                "ErrImagePull" if c.state.get("waiting", {}).get("reason") != "ErrImagePull" else "ImagePullBackOff"
            )
            c.state = {
                "waiting": {
                    "reason": reason,
                    "message": f'Back-off pulling image "{spec.get("image")}": '
                    f"no image {spec.get('image')!r} is known to this node",
                }
            }
            self._restart_at[c.name] = time.monotonic() + 2.0
            return
        retry = time.monotonic() + 1.0
        if problem := _non_root_problem(pod, spec, c.image.user):
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": problem}}
            self._restart_at[c.name] = retry
            return
        try:
            env = container_env(self.node.api, pod, spec, c.image.env, self.node.service_env, self.node.ip, self.pod_ip)
        except (EnvError, M4DError) as error:
            c.state = {"waiting": {"reason": "CreateContainerConfigError", "message": str(error)}}
            self._restart_at[c.name] = retry
            return
        if spec.get("command"):
            argv = [*spec["command"], *(spec.get("args") or [])]
        else:
            argv = [*c.image.entrypoint, *(spec.get("args") if spec.get("args") is not None else c.image.cmd)]
        argv = [expand(str(a), env) for a in argv]
        if not argv:
            c.state = {"waiting": {"reason": "CreateContainerError", "message": "no command specified"}}
            return
        mounts = []
        for mount in spec.get("volumeMounts") or []:
            source = self.volumes.paths.get(mount["name"])
            if source is None:
                c.state = {
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": f"volume {mount['name']!r} is not defined",
                    }
                }
                return
            sub = mount.get("subPath") or expand(str(mount.get("subPathExpr") or ""), env)
            if sub:
                source = (source / sub).resolve()
                if not source.exists():
                    source.mkdir(parents=True)
            mounts.append(
                {"source": str(source), "target": mount["mountPath"], "read_only": bool(mount.get("readOnly"))}
            )
        hostname = pod["spec"].get("hostname") or pod["metadata"]["name"]
        if not pod["spec"].get("hostNetwork"):
            hosts = self.directory / "etc-hosts"
            hosts.write_text(
                f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{self.pod_ip}\t{hostname}\n"
            )
            mounts.append({"source": str(hosts), "target": "/etc/hosts", "read_only": False})
        launch = Launch(argv, env, spec.get("workingDir") or c.image.working_dir, mounts, hostname)
        self._launches[c.name] = launch
        if c.last_state:
            c.restart_count += 1
        c.start(launch)
        started = time.monotonic()
        if "readinessProbe" in spec:
            c.readiness = ProbeState(spec["readinessProbe"], started, initial=False)
        if "livenessProbe" in spec:
            c.liveness = ProbeState(spec["livenessProbe"], started, initial=True)
        if "startupProbe" in spec:
            c.startup = ProbeState(spec["startupProbe"], started, initial=False)

    def _exec_in(self, c: Container) -> Any:
        def run(argv: list[str], timeout: float) -> int:
            assert c.proc is not None
            flags = ["--mount", "--uts"] + (["--user", "--preserve-credentials"] if c.proc and _in_userns() else [])
            launch = self._launches[c.name]
            done = subprocess.run(
                ["nsenter", "--target", str(c.proc.pid), *flags, "--root", "--wd", "--", *argv],
                env=launch.env,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
            return done.returncode

        return run

    def _probe(self, pod: Obj, c: Container, now: float) -> None:
        ports = _ports(c.spec)
        if c.startup is not None and not c.startup.result:
            if c.startup.due(now):
                ok, why = run_probe(c.startup.probe, self.pod_ip, ports, self._exec_in(c))
                c.startup.record(ok, why, now)
                failures = c.startup._failures
                if not ok and failures >= int(c.startup.probe.get("failureThreshold") or 3):
                    self._kill_for_probe(pod, c, "startup", why)
            return
        if c.liveness is not None and c.liveness.due(now):
            ok, why = run_probe(c.liveness.probe, self.pod_ip, ports, self._exec_in(c))
            c.liveness.record(ok, why, now)
            if not c.liveness.result:
                self._kill_for_probe(pod, c, "liveness", why)
                return
        if c.readiness is not None and c.readiness.due(now):
            ok, why = run_probe(c.readiness.probe, self.pod_ip, ports, self._exec_in(c))
            c.readiness.record(ok, why, now)

    def _kill_for_probe(self, pod: Obj, c: Container, which: str, why: str) -> None:
        log.info("pod %s: container %s failed its %s probe (%s), restarting it", self.label, c.name, which, why)
        c.stop(float(pod["spec"].get("terminationGracePeriodSeconds") or 30))
        c.finish(c.poll() or 137, "Error")

    # -- status and deletion ------------------------------------------------------------------

    def status(self, pod: Obj) -> dict[str, Any]:
        initialized, _ = self._init_state()
        current_phase = self._phase(pod)
        terminal = current_phase in ("Succeeded", "Failed")
        status: dict[str, Any] = {
            "phase": current_phase,
            "conditions": conditions(self._conditions, self.containers, self._sandbox, initialized, terminal),
            "hostIP": self.node.ip,
            "hostIPs": [{"ip": self.node.ip}],
            "startTime": self._start_time,
            "containerStatuses": [c.status() for c in self.containers],
        }
        if self._sandbox:
            status["podIP"] = self.pod_ip
            status["podIPs"] = [{"ip": self.pod_ip}]
        if self.init_containers:
            status["initContainerStatuses"] = [c.status() for c in self.init_containers]
        return status

    def _write_status(self, pod: Obj) -> None:
        status = self.status(pod)
        text = dumps(status)
        if text == self._last_status and time.monotonic() - self._last_write < STATUS_RESYNC:
            return
        try:
            self.node.api.patch_pod_status(pod, status)
        except NotFoundError:
            self.gone = True
            return
        except M4DError as error:
            log.warning("pod %s: status not written: %s", self.label, error)
            return
        self._last_status, self._last_write = text, time.monotonic()

    def _terminate(self, pod: Obj) -> None:
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        running = [c for c in [*self.init_containers, *self.containers] if c.running]
        stoppers = [threading.Thread(target=c.stop, args=(float(grace),), daemon=True) for c in running]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        for c in running:
            c.finish(c.poll() or 0)
        if self.gone:
            return
        self._write_status(pod)
        try:
            self.node.api.delete_pod_now(pod)
        except M4DError as error:
            log.warning("pod %s: not deleted: %s", self.label, error)


def _in_userns() -> bool:
    import os  # noqa: PLC0415

    return os.geteuid() != 0
