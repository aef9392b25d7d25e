"""A minimal local kubelet: runs a module workload, as the member's API server stores it, as a local process.

The project's test clusters are API servers without nodes, so nothing would run the Deployments and
Jobs the agent creates there. This stands in for the node: it reads the applied workload and runs its
one container's `command` + `args` under the agent's `Supervisor`, with the pod's volumes made local —

- the instance's ConfigMap: its configuration file is the process's configuration file (written from
  the ConfigMap's data), other paths under the mount are the instance's directory;
- an `emptyDir`: the instance's directory;
- `--port N`: a free port (every pod has its own network; local processes share one);
- readiness: the ready file the module writes (`--ready-file`, added for a Deployment), standing in for
  the readiness probe; a Job is done when its process exits 0;
- `env` values are passed on.

Anything else a pod may ask for (other volumes, `valueFrom`, several containers) is refused with a
message, as a kubelet reports a pod it cannot start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from m4d.api.blueprint import ModuleState
from m4d.controllers.agent.processes import ProcessSpec, Supervisor
from m4d.controllers.agent.workloads import ANNOTATION_PROTOCOL, CONFIG_KEY, LABEL_BLUEPRINT, LABEL_INSTANCE, Workload
from m4d.errors import PermanentError

CONFIG = "{config}"
PROCESS_KINDS: dict[str, Literal["Service", "Job"]] = {"Deployment": "Service", "Job": "Job"}


def _escape(arg: str) -> str:
    """Braces in a container argument are literal; ProcessSpec fills `{config}`, `{ready_file}`, `{port}`."""
    return arg.replace("{", "{{").replace("}", "}}")


@dataclass(frozen=True)
class _Mount:
    path: str  # inside the container
    local: str  # what it becomes here (escaped, or a placeholder)
    exact: bool  # a file: also matches as a prefix of a longer name (module.yaml.status.json)

    def apply(self, value: str) -> str | None:
        if value == self.path or value.startswith(self.path + "/") or (self.exact and value.startswith(self.path)):
            return self.local + value[len(self.path) :]
        return None


def _mounts(
    pod: dict[str, Any], container: dict[str, Any], config_map: str, data: dict[str, str], workdir: Path
) -> list[_Mount]:
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    out: list[_Mount] = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name")) or {}
        path = str(mount.get("mountPath", "")).rstrip("/")
        if (volume.get("configMap") or {}).get("name") == config_map:
            sub = mount.get("subPath")
            if sub:
                out.append(_Mount(path, CONFIG if sub == _config_key(data) else _escape(str(workdir / sub)), True))
                continue
            out += [_Mount(f"{path}/{key}", CONFIG, True) for key in data if key == _config_key(data)]
            out.append(_Mount(path, _escape(str(workdir)), False))
        elif "emptyDir" in volume:
            out.append(_Mount(path, _escape(str(workdir)), False))
        else:
            raise PermanentError(
                f"volume {mount.get('name')!r}: the local kubelet mounts only the instance's ConfigMap and emptyDirs"
            )
    # The longest paths first: the configuration file before its directory.
    return sorted(out, key=lambda m: -len(m.path))


def _config_key(data: dict[str, str]) -> str:
    if CONFIG_KEY in data:
        return CONFIG_KEY
    if len(data) == 1:
        return next(iter(data))
    raise PermanentError(f"the instance's ConfigMap holds {sorted(data)}; the local kubelet needs {CONFIG_KEY}")


def _localise(arg: str, mounts: Iterable[_Mount]) -> str:
    """A container path (alone or as `--flag=PATH`) as the local path it is mounted from."""
    flag, sep, value = arg.partition("=") if arg.startswith("-") else ("", "", arg)
    for mount in mounts:
        local = mount.apply(value)
        if local is not None:
            return f"{_escape(flag)}{sep}{local}"
    return _escape(arg)


def _flags(argv: list[str], kind: Literal["Service", "Job"]) -> list[str]:
    """`--port N` becomes a free port; `--ready-file` is where the supervisor looks for readiness."""
    out: list[str] = []
    ready = False
    values = iter(argv)
    for arg in values:
        if arg in ("--port", "--ready-file"):
            next(values, None)
            out += [arg, "{port}" if arg == "--port" else "{ready_file}"]
            ready = ready or arg == "--ready-file"
        elif arg.startswith(("--port=", "--ready-file=")):
            flag = arg.partition("=")[0]
            out.append(f"{flag}={{port}}" if flag == "--port" else f"{flag}={{ready_file}}")
            ready = ready or flag == "--ready-file"
        else:
            out.append(arg)
    if kind == "Service" and not ready:
        out += ["--ready-file", "{ready_file}"]
    return out


def pod_process(applied: Workload, root: Path) -> ProcessSpec:
    """The local process of an applied workload; PermanentError for what this kubelet cannot run."""
    workload = applied.workload
    meta = workload.get("metadata") or {}
    labels, name = meta.get("labels") or {}, meta.get("name")
    namespace = meta.get("namespace") or "default"
    blueprint, instance = labels.get(LABEL_BLUEPRINT), labels.get(LABEL_INSTANCE)
    kind = PROCESS_KINDS.get(str(workload.get("kind")))
    if not blueprint or not instance or kind is None:
        raise PermanentError(f"{workload.get('kind')} {namespace}/{name} is not a module instance's workload")
    pod = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    if len(containers) != 1:
        raise PermanentError(f"{name}: the local kubelet runs pods of one container, not {len(containers)}")
    container = containers[0]
    argv = [str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
    if not argv:
        raise PermanentError(f"{name}: the container names no command or args (an image's entrypoint cannot run here)")
    env: list[tuple[str, str]] = []
    for item in container.get("env") or []:
        if "value" not in item:
            raise PermanentError(f"{name}: env {item.get('name')} is not a plain value")
        env.append((str(item["name"]), str(item["value"])))
    data = applied.config_map.get("data") or {}
    workdir = root / namespace / blueprint / instance
    mounts = _mounts(pod, container, applied.config_map["metadata"]["name"], data, workdir)
    command = _flags([_localise(a, mounts) for a in argv], kind)
    if CONFIG not in " ".join(command):
        raise PermanentError(f"{name}: the container's arguments do not name the configuration file from its ConfigMap")
    return ProcessSpec(
        key=f"{namespace}/{blueprint}/{instance}",
        command=tuple(command),
        workdir=workdir,
        config_text=data[_config_key(data)],
        kind=kind,
        protocol=(meta.get("annotations") or {}).get(ANNOTATION_PROTOCOL, "fybrik-arrow-flight"),
        env=tuple(env),
    )


@dataclass
class LocalKubelet:
    """Runs applied workloads under the supervisor, in instance directories below `root`."""

    supervisor: Supervisor
    root: Path

    def run(self, applied: Workload) -> ModuleState:
        return self.supervisor.ensure(pod_process(applied, self.root))
