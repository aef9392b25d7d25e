"""The Vault credential store against a real Vault-API server (OpenBao in dev mode, loopback; see
tests/testenv/openbao.py), and the Flight module resolving a hash key through it."""

from __future__ import annotations

import hashlib
import ssl
import uuid
from pathlib import Path

import httpx
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.credentials import CredentialNotFound, CredentialSource, open_store
from m4d.errors import ForbiddenError, TemporaryError, UnauthorizedError
from m4d.modules.config import ClientGrant, ModuleConfig
from m4d.modules.flight.run import start
from tests.testenv.openbao import OpenBao
from tests.testenv.servers import ApiServer

from .conftest import people
from .servers import free_port

pytestmark = pytest.mark.integration

KEY = "vault-held-hash-key-42"


@pytest.fixture(scope="module")
def vault(openbao: OpenBao) -> OpenBao:
    put = httpx.post(
        f"{openbao.address}/v1/secret/data/m4d/hash-key",
        headers={"X-Vault-Token": openbao.root_token},
        json={"data": {"key": KEY}},
    )
    put.raise_for_status()
    return openbao


def test_resolves_kv_v2_secrets_with_a_token(vault: OpenBao) -> None:
    credentials = open_store(CredentialSource(kind="vault", address=vault.address), {"VAULT_TOKEN": vault.root_token})
    assert credentials.resolve("m4d/hash-key") == {"key": KEY}
    assert credentials.resolve("secret/data/m4d/hash-key") == {"key": KEY}  # the KV v2 API path works too
    with pytest.raises(CredentialNotFound) as missing:
        credentials.resolve("m4d/nothing-here")
    assert vault.root_token not in str(missing.value) and KEY not in repr(credentials)
    credentials.close()


def test_token_file_and_refused_tokens(vault: OpenBao, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(vault.root_token + "\n")
    from_file = open_store(CredentialSource(kind="vault", address=vault.address, token_file=str(token_file)))
    assert from_file.resolve("m4d/hash-key")["key"] == KEY
    bad = open_store(CredentialSource(kind="vault", address=vault.address), {"VAULT_TOKEN": "s.not-a-real-token"})
    with pytest.raises((ForbiddenError, UnauthorizedError)) as refused:
        bad.resolve("m4d/hash-key")
    assert "s.not-a-real-token" not in str(refused.value)


def test_an_unreachable_vault_is_a_temporary_error() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    credentials = open_store(CredentialSource(kind="vault", address=address), {"VAULT_TOKEN": "t-123456"})
    with pytest.raises(TemporaryError, match="cannot reach Vault"):
        credentials.resolve("m4d/hash-key")


def test_flight_module_hashes_with_a_key_from_vault(
    vault: OpenBao, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAULT_TOKEN", vault.root_token)
    pq.write_table(people(50), tmp_path / "p.parquet")
    source = DataStore(
        connection=Connection(kind="file", properties={"path": str(tmp_path / "p.parquet")}), format="parquet"
    )
    actions = [Action(name="HashColumn", columns=["email"], options={"keyRef": "m4d/hash-key"})]
    config = ModuleConfig(
        name="vault-backed",
        assets=[ModuleAsset(asset_id="hr/p", capability="read", source=source, actions=actions)],
        credentials=CredentialSource(kind="vault", address=vault.address),
        clients=[ClientGrant.for_token("ns/app", "tok-vault", ["hr/p"])],
    )
    server = start(config)
    try:
        with flight.FlightClient(f"grpc://127.0.0.1:{server.port}") as client:
            options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer tok-vault")])
            info = client.get_flight_info(flight.FlightDescriptor.for_path("hr/p"), options)
            table = client.do_get(info.endpoints[0].ticket, options).read_all()
    finally:
        server.shutdown()
    expected = hashlib.blake2s(b"user0@example.org", key=KEY.encode()).hexdigest()
    assert table.column("email")[0].as_py() == expected


def test_kubernetes_auth_with_a_real_api_server(vault: OpenBao, hub_api: ApiServer, tmp_path: Path) -> None:
    """A module logs in with its service-account token; Vault checks it with the API server's TokenReview."""
    kube = httpx.Client(
        base_url=hub_api.url,
        verify=ssl.create_default_context(cafile=str(hub_api.ca_file)),
        headers={"Authorization": f"Bearer {hub_api.admin_token}"},
    )
    sa = f"m4d-module-{uuid.uuid4().hex[:6]}"
    kube.post("/api/v1/namespaces/default/serviceaccounts", json={"metadata": {"name": sa}}).raise_for_status()
    issued = kube.post(
        f"/api/v1/namespaces/default/serviceaccounts/{sa}/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
    )
    issued.raise_for_status()
    jwt = tmp_path / "token"
    jwt.write_text(issued.json()["status"]["token"])
    kube.close()

    root = httpx.Client(base_url=vault.address, headers={"X-Vault-Token": vault.root_token})
    mount = f"k8s-{uuid.uuid4().hex[:6]}"
    root.post(f"/v1/sys/auth/{mount}", json={"type": "kubernetes"}).raise_for_status()
    root.post(
        f"/v1/auth/{mount}/config",
        json={
            "kubernetes_host": hub_api.url,
            "kubernetes_ca_cert": hub_api.ca_file.read_text(),
            "token_reviewer_jwt": hub_api.admin_token,
        },
    ).raise_for_status()
    policy = 'path "secret/data/m4d/*" { capabilities = ["read"] }'
    root.put("/v1/sys/policies/acl/m4d-modules", json={"policy": policy}).raise_for_status()
    root.post(
        f"/v1/auth/{mount}/role/m4d-modules",
        json={
            "bound_service_account_names": [sa],
            "bound_service_account_namespaces": ["default"],
            "policies": ["m4d-modules"],
        },
    ).raise_for_status()
    root.close()

    source = CredentialSource(
        kind="vault", address=vault.address, auth="kubernetes", role="m4d-modules", auth_path=mount, jwt_file=str(jwt)
    )
    credentials = open_store(source, {})
    assert credentials.resolve("m4d/hash-key") == {"key": KEY}
    other = open_store(source.model_copy(update={"role": "no-such-role"}), {})
    with pytest.raises((UnauthorizedError, ForbiddenError)) as refused:
        other.resolve("m4d/hash-key")
    assert jwt.read_text() not in str(refused.value)
