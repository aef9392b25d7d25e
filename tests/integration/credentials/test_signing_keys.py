"""Blueprint signing keys of a hub on Kubernetes, in a real Vault-API server (OpenBao): every hub replica
signs with the same member key, minted once; a member's agent reads only its own."""

from __future__ import annotations

import threading
import uuid

import hvac
import pytest

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
