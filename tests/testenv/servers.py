"""Start one etcd, three kube-apiservers ("hub", "member1", "member2") and a kube-controller-manager for the
hub, all on 127.0.0.1 free ports, and stop them again. Standard library only; the pytest fixtures in
tests/testenv/fixtures.py wrap `running()`.

The three API servers share the etcd but each has its own `--etcd-prefix`, service-account signing key and
issuer, so they are as separate as three clusters: an object made on one is absent from the others, and a
service-account token of one is rejected by the others.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import kubeconfig, pki
from .locate import locate
from .process import Server, ServerStartError, free_port
from .versions import ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER

CLUSTER_NAMES = ("hub", "member1", "member2")
ADMIN_USER = "m4d-admin"
# Three apiservers on two cores take ~10-20 s; the deadline leaves room for a loaded CI machine.
START_TIMEOUT = 90.0
# Keep the data dirs and logs after the session (for debugging a failure) when set to 1.
KEEP_ENV = "M4D_TESTENV_KEEP"


@dataclass(frozen=True)
class ApiServer:
    """What a test needs to talk to one cluster as its admin."""

    name: str
    url: str
    ca_file: Path
    admin_token: str
    kubeconfig: Path  # this cluster alone; its current context is `context`
    context: str
    log: Path


@dataclass
class TestEnv:
    hub: ApiServer
    members: tuple[ApiServer, ...]
    kubeconfig: Path  # every cluster, one context each, current context "hub"
    etcd_url: str
    workdir: Path
    # None when the hub's controller manager runs; else why not (tests that need it fail with this).
    controller_manager_problem: str | None = None
    logs: dict[str, Path] = field(default_factory=dict)
    serving: pki.ServingPki | None = None  # the CA and serving certificate (for more components)

    __test__ = False  # not a pytest test class, despite the name

    @property
    def clusters(self) -> tuple[ApiServer, ...]:
        return (self.hub, *self.members)

    def cluster(self, name: str) -> ApiServer:
        for api in self.clusters:
            if api.name == name:
                return api
        raise KeyError(f"no cluster {name!r}; have {[api.name for api in self.clusters]}")


def _start_etcd(binary: Path, workdir: Path, deadline: float) -> tuple[Server, str]:
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    peer_url = f"http://127.0.0.1:{peer}"
    server = Server(
        "etcd",
        [
            str(binary),
            "--name=m4d",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=m4d={peer_url}",
            # Test data need not survive a power cut; skipping fsync makes every write several times faster.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        workdir / "etcd.log",
    )
    server.wait_ready(f"{url}/health", deadline)
    return server, url


def _start_apiserver(
    binary: Path, name: str, workdir: Path, etcd_url: str, serving: pki.ServingPki, token: str
) -> tuple[Server, ApiServer]:
    home = workdir / name
    home.mkdir()
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    sa_key = pki.ec_key(home / "sa.key")
    sa_pub = pki.public_key(sa_key, home / "sa.pub")
    tokens = home / "tokens.csv"
    # token,user,uid,"group,..." - the admin and the controller manager are in system:masters.
    tokens.write_text(
        f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        f'{token}-kcm,system:kube-controller-manager,system:kube-controller-manager,"system:masters"\n'
    )
    tokens.chmod(0o600)
    server = Server(
        f"kube-apiserver {name}",
        [
            str(binary),
            f"--etcd-servers={etcd_url}",
            f"--etcd-prefix=/registry-{name}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={home / 'certs'}",
            f"--tls-cert-file={serving.cert}",
            f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={serving.ca_cert}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://{name}.m4d.test",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ],
        home / "kube-apiserver.log",
    )
    context = name
    config = kubeconfig.write(
        home / "kubeconfig",
        [kubeconfig.Entry(context=context, server=url, ca_file=serving.ca_cert, token=token)],
        current=context,
    )
    api = ApiServer(
        name=name,
        url=url,
        ca_file=serving.ca_cert,
        admin_token=token,
        kubeconfig=config,
        context=context,
        log=server.log,
    )
    return server, api


def _insecure() -> ssl.SSLContext:
    # The controllers' serving certificates are self-signed, made at start; /healthz needs no token.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _component_kubeconfig(home: Path, api: ApiServer) -> Path:
    """A kubeconfig for a cluster's own controllers (its `-kcm` token is in system:masters)."""
    entry = kubeconfig.Entry(context=api.name, server=api.url, ca_file=api.ca_file, token=f"{api.admin_token}-kcm")
    return kubeconfig.write(home / "kubeconfig", [entry], current=api.name)


def start_controller_manager(
    binary: Path, api: ApiServer, workdir: Path, serving: pki.ServingPki, deadline: float
) -> Server:
    """The cluster's kube-controller-manager (Deployments, ReplicaSets, Jobs, garbage collection, tokens...)."""
    home = workdir / f"{api.name}-kcm"
    home.mkdir()
    config = _component_kubeconfig(home, api)
    port = free_port()
    server = Server(
        f"kube-controller-manager {api.name}",
        [
            str(binary),
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={home / 'certs'}",
            # Signs service-account tokens for the token controller, with the cluster apiserver's key.
            f"--service-account-private-key-file={workdir / api.name / 'sa.key'}",
            f"--root-ca-file={serving.ca_cert}",
            f"--cluster-signing-cert-file={serving.ca_cert}",
            f"--cluster-signing-key-file={serving.ca_key}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
        home / "kube-controller-manager.log",
    )
    server.wait_ready(f"https://127.0.0.1:{port}/healthz", deadline, ssl_context=_insecure())
    return server


def start_scheduler(binary: Path, api: ApiServer, workdir: Path, deadline: float) -> Server:
    """The cluster's kube-scheduler: binds pods to the nodes (the node emulator's Node)."""
    home = workdir / f"{api.name}-scheduler"
    home.mkdir()
    config = _component_kubeconfig(home, api)
    port = free_port()
    server = Server(
        f"kube-scheduler {api.name}",
        [
            str(binary),
            f"--kubeconfig={config}",
            f"--authentication-kubeconfig={config}",
            f"--authorization-kubeconfig={config}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={home / 'certs'}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
        home / "kube-scheduler.log",
    )
    server.wait_ready(f"https://127.0.0.1:{port}/healthz", deadline, ssl_context=_insecure())
    return server


@contextmanager
def running(workdir: Path | None = None) -> Iterator[TestEnv]:
    """Start everything, yield the TestEnv, stop everything (and delete the data, unless M4D_TESTENV_KEEP=1).

    Raises FileNotFoundError (with how to get it) when a binary is missing, ServerStartError with the last
    log lines of the server that did not come up.
    """
    apiserver_bin = locate(KUBE_APISERVER).require()
    etcd_bin = locate(ETCD).require()
    kcm = locate(KUBE_CONTROLLER_MANAGER)
    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="m4d-testenv-")) if workdir is None else workdir
    deadline = time.monotonic() + START_TIMEOUT
    with ExitStack() as stack:
        if own_dir and os.environ.get(KEEP_ENV) != "1":
            stack.callback(shutil.rmtree, root, ignore_errors=True)
        servers: list[Server] = []

        def stop_all() -> None:
            for server in reversed(servers):  # controller manager, apiservers, then etcd
                server.stop()

        stack.callback(stop_all)
        serving = pki.serving_pki(root / "pki")
        etcd, etcd_url = _start_etcd(etcd_bin, root, deadline)
        servers.append(etcd)
        # Start all three before waiting on any: their start-up work overlaps.
        apis: list[ApiServer] = []
        for name in CLUSTER_NAMES:
            server, api = _start_apiserver(apiserver_bin, name, root, etcd_url, serving, secrets.token_hex(16))
            servers.append(server)
            apis.append(api)
        verified = ssl.create_default_context(cafile=str(serving.ca_cert))
        for server, api in zip(servers[1:], apis, strict=True):
            server.wait_ready(f"{api.url}/readyz", deadline, ssl_context=verified, token=api.admin_token)
        hub = apis[0]
        problem: str | None = None
        if kcm.path is None:
            problem = kcm.missing_message()
        else:
            servers.append(start_controller_manager(kcm.path, hub, root, serving, deadline))
        combined = kubeconfig.write(
            root / "kubeconfig",
            [kubeconfig.Entry(context=a.context, server=a.url, ca_file=a.ca_file, token=a.admin_token) for a in apis],
            current=hub.context,
        )
        yield TestEnv(
            hub=hub,
            members=tuple(apis[1:]),
            kubeconfig=combined,
            etcd_url=etcd_url,
            workdir=root,
            controller_manager_problem=problem,
            logs={server.name: server.log for server in servers},
            serving=serving,
        )


__all__ = ["CLUSTER_NAMES", "ApiServer", "ServerStartError", "TestEnv", "running"]
