"""What the Helm-installed platform needs around it in the test environment, set up as an operator would.

- Vault (OpenBao): KV v2 at `secret/`, one Kubernetes auth mount per cluster (`kubernetes-<cluster>`)
  whose TokenReviews go to that cluster's API server, policies and roles for the hub, the member agents
  and the modules, and the assets' credentials (the sample hashing key) under `m4d/keys/...`.
- The GitOps repository: a bare repository served by `git daemon`; the hub's pods push to it.
- Helm and kubectl: the real binaries against the test API servers, with the install guide's commands.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import yaml

from tests.testenv.locate import locate
from tests.testenv.openbao import OpenBao
from tests.testenv.servers import ApiServer, TestEnv
from tests.testenv.versions import HELM, KUBECTL

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "deploy" / "charts"
SYSTEM = "m4d-system"
BLUEPRINTS = "m4d-blueprints"

POLICIES = {
    # The hub keeps every application's token in Vault for the agents, and removes it with the application.
    # It mints each member's Blueprint signing key there once (check-and-set), never changes one.
    "m4d-hub": """
path "secret/data/m4d/applications/*" { capabilities = ["create", "update", "read"] }
path "secret/metadata/m4d/applications/*" { capabilities = ["delete", "read"] }
path "secret/data/m4d/blueprint-signing/*" { capabilities = ["create", "read"] }
""",
    # An agent reads applications' tokens (to grant them by digest), nothing else.
    "m4d-agent": 'path "secret/data/m4d/applications/*" { capabilities = ["read"] }\n',
    # Modules read the credentials their assets reference, not the applications' tokens.
    "m4d-module": 'path "secret/data/m4d/keys/*" { capabilities = ["read"] }\n',
}


def auth_mount(cluster: str) -> str:
    return f"kubernetes-{cluster}"


def agent_key_policy(cluster: str) -> str:
    """An agent reads its own member's Blueprint signing key, no other member's."""
    return f'path "secret/data/m4d/blueprint-signing/{cluster}" {{ capabilities = ["read"] }}\n'


def configure_vault(bao: OpenBao, env: TestEnv, members: dict[str, str], secrets: dict[str, dict[str, str]]) -> None:
    """`members`: the member cluster's name on the hub, by test API server name."""
    root = hvac.Client(url=bao.address, token=bao.root_token)
    try:
        for name, policy in POLICIES.items():
            root.sys.create_or_update_policy(name, policy)
        for cluster in members.values():
            root.sys.create_or_update_policy(f"m4d-agent-{cluster}", agent_key_policy(cluster))
        enabled = root.sys.list_auth_methods()["data"]
        for api in env.clusters:
            mount = auth_mount(api.name)
            if f"{mount}/" not in enabled:
                root.sys.enable_auth_method("kubernetes", path=mount)
            root.auth.kubernetes.configure(
                kubernetes_host=api.url,
                kubernetes_ca_cert=api.ca_file.read_text(),
                token_reviewer_jwt=api.admin_token,  # the reviewer may call TokenReview
                mount_point=mount,
            )
        roles: list[tuple[ApiServer, str, str, str, list[str]]] = [(env.hub, "m4d-hub", "m4d-hub", SYSTEM, [])]
        for member in env.members:
            roles += [
                (member, "m4d-agent", "m4d-agent", SYSTEM, [f"m4d-agent-{members[member.name]}"]),
                (member, "m4d-module", "m4d-module", BLUEPRINTS, []),
            ]
        for api, role, account, namespace, more in roles:
            root.auth.kubernetes.create_role(
                role,
                bound_service_account_names=[account],
                bound_service_account_namespaces=[namespace],
                policies=[role, *more],
                ttl="1h",
                mount_point=auth_mount(api.name),
            )
        for ref, values in secrets.items():
            path = ref.removeprefix("secret/data/")
            root.secrets.kv.v2.create_or_update_secret(path=path, secret=values, mount_point="secret")
    finally:
        root.adapter.close()


def vault_read(bao: OpenBao, path: str) -> dict[str, Any] | None:
    root = hvac.Client(url=bao.address, token=bao.root_token)
    try:
        answer = root.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
        return dict(answer["data"]["data"])
    except hvac.exceptions.InvalidPath:
        return None
    finally:
        root.adapter.close()


@dataclass(frozen=True)
class Helm:
    kubeconfig: Path
    workdir: Path

    def __call__(self, context: str, *args: str, check: bool = True) -> str:
        binary = locate(HELM).require()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            # Helm's caches and settings in the test's directory, not the developer's home.
            "HELM_CACHE_HOME": str(self.workdir / "cache"),
            "HELM_CONFIG_HOME": str(self.workdir / "config"),
            "HELM_DATA_HOME": str(self.workdir / "data"),
        }
        done = subprocess.run(
            [str(binary), "--kube-context", context, *args], capture_output=True, text=True, env=env, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout + done.stderr


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path
    workdir: Path

    def __call__(self, context: str, *args: str, stdin: str | None = None) -> str:
        binary = locate(KUBECTL).require()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.workdir / "cache"),  # discovery cache in the test's directory
        }
        command = [str(binary), "--context", context, *args]
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done.stdout


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]
