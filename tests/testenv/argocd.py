"""Real Argo CD (v3.6.1, built by tests/testenv/build.py) on the test hub: Redis, the repo-server, the
application controller and the ApplicationSet controller as local processes.

Installed as `core-install.yaml` of the release installs it (the build keeps that file beside the binary):
its ConfigMaps and Secrets go into the hub's `argocd` namespace, and each process gets the environment its
Deployment or StatefulSet would give it, resolved from those ConfigMaps (`argocd-cm`,
`argocd-cmd-params-cm`) and Secrets. The settings the tests use are data in `argocd-cmd-params-cm`
(`CMD_PARAMS`), as an operator would set them; only ports and listen addresses without a key there are
flags. There is no kubelet: the Deployments themselves are not created, and no argocd-server runs (its
one job here, the `default` AppProject, is done by hand; its Git webhook by `GitWebhook`).

Every server listens on 127.0.0.1. The application controller, which serves metrics on 0.0.0.0 with no
option to change it, runs in a network namespace of its own (netns.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from m4d.cluster.kube import KubeCluster
from m4d.cluster.kube_http import MERGE_PATCH, Request
from m4d.cluster.kube_manifests import Manifest
from m4d.errors import NotFoundError
from tests.testenv.locate import locate
from tests.testenv.netns import NetNamespace
from tests.testenv.process import Server, ServerStartError, free_port
from tests.testenv.servers import ApiServer
from tests.testenv.versions import ARGOCD

NAMESPACE = "argocd"
API_VERSION = "argoproj.io/v1alpha1"
FIELD_MANAGER = "m4d-tests-argocd"
INSTALL_MANIFEST = "core-install.yaml"
CLUSTER_SECRET_LABEL = "argocd.argoproj.io/secret-type"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
START_TIMEOUT = 90.0

# The Deployment (or StatefulSet) of core-install.yaml each process is, by binary name.
WORKLOADS = {
    "argocd-repo-server": "argocd-repo-server",
    "argocd-application-controller": "argocd-application-controller",
    "argocd-applicationset-controller": "argocd-applicationset-controller",
}


def cmd_params(redis_port: int, repo_server_port: int) -> dict[str, str]:
    """`argocd-cmd-params-cm` as the tests set it: loopback addresses, no TLS between the processes (they
    share one machine), fewer workers than the defaults for a 2-core machine, and each resource's health
    kept in the Application's status (Argo CD 3 keeps it only in its resource tree, served by
    argocd-server's API), where `m4d describe membercluster` reads each Blueprint's health."""
    return {
        "redis.server": f"127.0.0.1:{redis_port}",
        "repo.server": f"127.0.0.1:{repo_server_port}",
        "reposerver.listen.address": "127.0.0.1",
        "reposerver.disable.tls": "true",
        "controller.repo.server.plaintext": "true",
        "applicationsetcontroller.repo.server.plaintext": "true",
        "controller.status.processors": "4",
        "controller.operation.processors": "2",
        "controller.kubectl.parallelism.limit": "4",
        "reposerver.parallelism.limit": "2",
        "controller.resource.health.persist": "true",
    }


def _resolve_env(entries: list[dict[str, Any]], maps: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """A container's `env` with configMapKeyRef/secretKeyRef resolved (absent optional keys stay unset)."""
    out: dict[str, str] = {}
    for entry in entries:
        if "value" in entry:
            out[entry["name"]] = str(entry["value"])
            continue
        source = entry.get("valueFrom") or {}
        ref = source.get("configMapKeyRef") or source.get("secretKeyRef")
        if ref is None:
            continue  # fieldRef and the like: set below where the processes need them
        value = maps.get(ref["name"], {}).get(ref["key"])
        if value is not None:
            out[entry["name"]] = value
    return out


def _redis_ready(port: int, password: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    return False
                answer += chunk
            return answer == b"+OK\r\n+PONG\r\n"
    except OSError:
        return False


@dataclass
class ArgoCD:
    """The running Argo CD: its hub, where it logs, and what a test does to it."""

    hub: KubeCluster
    workdir: Path
    logs: dict[str, Path] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)

    def application(self, name: str) -> Manifest | None:
        try:
            return self.hub.manifests.get(API_VERSION, "Application", name, NAMESPACE)
        except NotFoundError:
            return None

    def items(self, kind: str) -> list[Manifest]:
        """Every object of one of Argo CD's kinds in its namespace."""
        resource = self.hub.manifests.resource(API_VERSION, kind)
        answer = self.hub.manifests.api.send(Request("GET", resource.collection(NAMESPACE)))
        return list(answer.get("items") or [])

    def applications(self) -> list[Manifest]:
        return self.items("Application")

    def patch(self, kind: str, name: str, body: Manifest) -> None:
        """A JSON merge patch (NotFoundError if the object is gone)."""
        resource = self.hub.manifests.resource(API_VERSION, kind)
        self.hub.manifests.api.send(Request("PATCH", resource.item(name, NAMESPACE), (), body, MERGE_PATCH))

    def refresh(self, name: str) -> None:
        """What Argo CD's Git webhook does for an Application of the pushed repository and branch."""
        with contextlib.suppress(NotFoundError):  # gone meanwhile: nothing to refresh
            self.patch("Application", name, {"metadata": {"annotations": {REFRESH_ANNOTATION: "normal"}}})

    def forget(self, name: str) -> None:
        """Delete an Application without its cascade (what it deployed stays; the caller cleans up)."""
        with contextlib.suppress(NotFoundError):
            self.patch("Application", name, {"metadata": {"finalizers": None}})
            self.hub.manifests.delete(API_VERSION, "Application", name, NAMESPACE)

    def remove_all(self) -> None:
        """Forget every Application and ApplicationSet (what they deployed stays: the caller cleans the members,
        where finalizers of stopped agents would hold a cascade), then projects and cluster Secrets."""
        for kind in ("ApplicationSet", "Application", "AppProject"):
            for item in self.items(kind):
                name = item["metadata"]["name"]
                with contextlib.suppress(NotFoundError):
                    if item["metadata"].get("finalizers"):
                        self.patch(kind, name, {"metadata": {"finalizers": None}})
                    self.hub.manifests.delete(API_VERSION, kind, name, NAMESPACE)
        for item in self.hub_secrets():
            self.hub.manifests.delete("v1", "Secret", item["metadata"]["name"], NAMESPACE)

    def hub_secrets(self) -> list[Manifest]:
        """The cluster Secrets (Argo CD's registered clusters)."""
        resource = self.hub.manifests.resource("v1", "Secret")
        query = (("labelSelector", f"{CLUSTER_SECRET_LABEL}=cluster"),)
        return list(
            self.hub.manifests.api.send(Request("GET", resource.collection(NAMESPACE), query)).get("items") or []
        )

    def register_cluster(self, name: str, api: ApiServer, labels: Mapping[str, str] | None = None) -> None:
        """A cluster Secret as `argocd cluster add <context> --name <name>` makes it: Argo CD's own record of a
        member, with its credentials (which never go into Git)."""
        config = {
            "bearerToken": api.admin_token,
            "tlsClientConfig": {"caData": base64.b64encode(api.ca_file.read_bytes()).decode()},
        }
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"cluster-{name}",
                "namespace": NAMESPACE,
                "labels": {CLUSTER_SECRET_LABEL: "cluster", **(labels or {})},
            },
            "type": "Opaque",
            "stringData": {"name": name, "server": api.url, "config": json.dumps(config)},
        }
        self.hub.manifests.apply(secret, FIELD_MANAGER)

    def unregister_cluster(self, name: str) -> None:
        self.hub.manifests.delete("v1", "Secret", f"cluster-{name}", NAMESPACE)

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(f"--- {server.name}\n{server.log_tail(lines)}" for server in self.servers)

    def check_running(self) -> None:
        """Fail with the process's log when one of Argo CD's processes has died."""
        for server in self.servers:
            if server.proc.poll() is not None:
                raise server.failure(f"exited with status {server.proc.returncode}")


def install_documents(binary: Path) -> list[Manifest]:
    path = binary.parent / INSTALL_MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing (the Argo CD build keeps it beside the binary): remove {binary.parent} and run "
            "`make testenv` again"
        )
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _install(hub: KubeCluster, docs: list[Manifest], params: Mapping[str, str], redis_password: str) -> None:
    hub.manifests.ensure_namespace(NAMESPACE)
    for doc in docs:
        if doc["kind"] not in ("ConfigMap", "Secret"):
            continue
        obj = {**doc, "metadata": {**doc["metadata"], "namespace": NAMESPACE}}
        if doc["metadata"]["name"] == "argocd-cmd-params-cm":
            obj["data"] = {**(doc.get("data") or {}), **params}
        hub.manifests.apply(obj, FIELD_MANAGER)
    # argocd-server signs its tokens with this key and writes it at its first start; the ApplicationSet
    # controller's webhook handler refuses to start without it.
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "argocd-secret", "namespace": NAMESPACE},
        "stringData": {"server.secretkey": secrets.token_urlsafe(32)},
    }
    hub.manifests.apply(secret, FIELD_MANAGER + "-server")
    # The install's init job makes this one; the processes read REDIS_PASSWORD from it.
    redis = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "argocd-redis", "namespace": NAMESPACE},
        "type": "Opaque",
        "stringData": {"auth": redis_password},
    }
    hub.manifests.apply(redis, FIELD_MANAGER)
    # argocd-server creates the `default` project at start; there is no argocd-server here.
    project = {
        "apiVersion": API_VERSION,
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": NAMESPACE},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }
    hub.manifests.apply(project, FIELD_MANAGER)


def _config_maps(hub: KubeCluster) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name in ("argocd-cm", "argocd-cmd-params-cm"):
        out[name] = dict(hub.manifests.get("v1", "ConfigMap", name, NAMESPACE).get("data") or {})
    for name in ("argocd-secret", "argocd-redis"):
        data = hub.manifests.get("v1", "Secret", name, NAMESPACE).get("data") or {}
        out[name] = {k: base64.b64decode(v).decode() for k, v in data.items()}
    return out


def _container_env(docs: list[Manifest], workload: str) -> list[dict[str, Any]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet") and doc["metadata"]["name"] == workload:
            return list(doc["spec"]["template"]["spec"]["containers"][0].get("env") or [])
    raise LookupError(f"{INSTALL_MANIFEST} has no workload {workload}")


@contextmanager
def running(hub_api: ApiServer, relay_ports: list[int], workdir: Path, hub: KubeCluster) -> Iterator[ArgoCD]:
    """Install Argo CD into the hub (its CRDs must be served already) and run its processes until the end.

    `relay_ports` are the loopback ports of every API server Argo CD must reach (the hub and the members).
    Raises FileNotFoundError when the build is missing, ServerStartError (with the log) when a process does
    not come up, NamespaceError when the controller's network namespace cannot be made.
    """
    binary = locate(ARGOCD).require()
    docs = install_documents(binary)
    deadline = time.monotonic() + START_TIMEOUT
    for sub in ("tmp", "home", "tls", "ssh", "gnupg", "kubecache"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    redis_port, repo_port = free_port(), free_port()
    password = secrets.token_hex(16)
    _install(hub, docs, cmd_params(redis_port, repo_port), password)
    maps = _config_maps(hub)
    argocd = ArgoCD(hub=hub, workdir=workdir)
    with ExitStack() as stack:

        def stop_all() -> None:
            for server in reversed(argocd.servers):
                server.stop()

        stack.callback(stop_all)

        def start(name: str, argv: list[str], env: dict[str, str] | None = None, **kw: Any) -> Server:
            server = Server(name, argv, workdir / f"{name}.log", env=env, **kw)
            argocd.servers.append(server)
            argocd.logs[name] = server.log
            return server

        redis = start(
            "redis-server",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--requirepass", password],
        )  # fmt: skip
        while not _redis_ready(redis_port, password):
            if redis.proc.poll() is not None or time.monotonic() > deadline:
                raise redis.failure("did not answer PING")
            time.sleep(0.1)

        base_env = {
            "PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # git-verify-wrapper.sh
            "HOME": str(workdir / "home"),
            "TMPDIR": str(workdir / "tmp"),  # the repo-server's clones
            "KUBECONFIG": str(hub_api.kubeconfig),
            "ARGOCD_FAKE_IN_CLUSTER": "true",  # https://kubernetes.default.svc is the hub of KUBECONFIG
            "NAMESPACE": NAMESPACE,
            "ARGOCD_GPG_ENABLED": "false",
            "ARGOCD_TLS_DATA_PATH": str(workdir / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(workdir / "ssh"),
            "ARGOCD_GNUPGHOME": str(workdir / "gnupg"),
            "KUBECACHEDIR": str(workdir / "kubecache"),
        }

        def env_of(name: str) -> dict[str, str]:
            return {**base_env, **_resolve_env(_container_env(docs, WORKLOADS[name]), maps), "ARGOCD_BINARY_NAME": name}

        repo_metrics = free_port()
        repo = start(
            "argocd-repo-server",
            [str(binary), "--port", str(repo_port), "--metrics-address", "127.0.0.1", "--metrics-port",
             str(repo_metrics), "--client-ca-path="],
            env_of("argocd-repo-server"),
        )  # fmt: skip

        netns = NetNamespace()
        stack.callback(netns.close)
        for port in {*relay_ports, redis_port, repo_port}:
            netns.relay_in(port)
        inner_metrics = 8082  # inside the namespace nothing else listens
        controller = start(
            "argocd-application-controller",
            [str(binary), "--namespace", NAMESPACE, "--metrics-port", str(inner_metrics)],
            env_of("argocd-application-controller"),
            before_exec=netns.enter,
        )
        controller_health = netns.relay_out(inner_metrics)

        appset_metrics = free_port()
        appset = start(
            "argocd-applicationset-controller",
            [str(binary), "--namespace", NAMESPACE, "--metrics-addr", f"127.0.0.1:{appset_metrics}",
             "--probe-addr", f"127.0.0.1:{free_port()}", "--webhook-addr", f"127.0.0.1:{free_port()}"],
            env_of("argocd-applicationset-controller"),
        )  # fmt: skip

        repo.wait_ready(f"http://127.0.0.1:{repo_metrics}/metrics", deadline)
        controller.wait_ready(f"http://127.0.0.1:{controller_health}/healthz", deadline)
        # The ApplicationSet controller registers no readiness check; its metrics answer once it runs.
        appset.wait_ready(f"http://127.0.0.1:{appset_metrics}/metrics", deadline)
        yield argocd


__all__ = ["API_VERSION", "NAMESPACE", "ArgoCD", "ServerStartError", "cmd_params", "install_documents", "running"]
