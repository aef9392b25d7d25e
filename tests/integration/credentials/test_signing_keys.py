"""Blueprint signing keys of a hub on Kubernetes, in a real Vault-API server (OpenBao): every hub replica
signs with the same member key, minted once; a member's agent reads only its own."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import hvac
import pytest
import yaml

from m4d.cluster.connect import HubLayout
from m4d.controllers.hub import HubConfig, signing_keys
from m4d.credentials import CredentialSource, open_store
from m4d.credentials.signing import VaultKeys, read_signing_key, signing_ref
from m4d.credentials.vault import VaultStore
from m4d.errors import ForbiddenError
from tests.testenv.openbao import OpenBao

pytestmark = pytest.mark.integration


def _store(bao: OpenBao, token: str) -> VaultStore:
    store = open_store(CredentialSource(kind="vault", address=bao.address), {"VAULT_TOKEN": token})
    assert isinstance(store, VaultStore)
    return store


def _token(bao: OpenBao, policy: str, rules: str) -> str:
    root = hvac.Client(url=bao.address, token=bao.root_token)
    try:
        root.sys.create_or_update_policy(policy, rules)
        return str(root.auth.token.create(policies=[policy], ttl="10m")["auth"]["client_token"])
    finally:
        root.adapter.close()


def test_replicas_mint_one_key_and_an_agent_reads_only_its_own(openbao: OpenBao) -> None:
    cluster, other = f"eu-{uuid.uuid4().hex[:6]}", f"us-{uuid.uuid4().hex[:6]}"
    hub_rules = 'path "secret/data/m4d/blueprint-signing/*" { capabilities = ["create", "read"] }\n'
    hub_token = _token(openbao, "test-signing-hub", hub_rules)
    replicas = [_store(openbao, hub_token) for _ in range(4)]
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda s=s: keys.append(VaultKeys(s)(cluster))) for s in replicas]
    for thread in threads:  # replicas minting at the same moment: the first write wins, all sign with it
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(keys) == 4 and len(set(keys)) == 1 and len(keys[0]) == 32
    assert VaultKeys(replicas[0])(cluster) == keys[0]  # a restarted replica finds it

    agent_rules = f'path "secret/data/{signing_ref(cluster)}" {{ capabilities = ["read"] }}\n'
    agent = _store(openbao, _token(openbao, f"test-signing-agent-{cluster}", agent_rules))
    assert read_signing_key(agent, cluster) == keys[0]  # what its agent verifies with
    VaultKeys(replicas[0])(other)
    with pytest.raises(ForbiddenError):  # another member's key is not this agent's to read
        read_signing_key(agent, other)
    with pytest.raises(ForbiddenError):  # and an agent cannot mint one
        VaultKeys(agent)(f"new-{cluster}")
    for store in (*replicas, agent):
        store.close()


def test_gitops_commands_beside_a_vault_hub_sign_with_its_keys(
    openbao: OpenBao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `m4d gitops sync` run beside a hub whose hub.yaml keeps tokens in Vault signs as the hub's replicas
    # do: with the member's key in Vault, never one minted into the local secrets file.
    cluster = f"eu-{uuid.uuid4().hex[:6]}"
    token = _token(openbao, "test-signing-gitops", 'path "secret/data/m4d/blueprint-signing/*" '
                   '{ capabilities = ["create", "read"] }\n')  # fmt: skip
    hub_yaml = {"tokens": {"kubernetesSecrets": True, "vault": {"kind": "vault", "address": openbao.address}}}
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(hub_yaml))
    layout = HubLayout(tmp_path)
    monkeypatch.setenv("VAULT_TOKEN", token)
    replica = _store(openbao, token)
    try:
        assert signing_keys(HubConfig.load(layout), layout.secrets_file)(cluster) == VaultKeys(replica)(cluster)
    finally:
        replica.close()
    assert not layout.secrets_file.exists()
    (tmp_path / "hub.yaml").unlink()  # the embedded default: the hub directory's secrets file
    assert signing_keys(HubConfig.load(layout), layout.secrets_file)(cluster) == read_signing_key(
        open_store(CredentialSource(kind="file", path=str(layout.secrets_file))), cluster
    )
