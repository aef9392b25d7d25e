"""The Vault credential store against a real Vault server (dev mode, loopback), and the Flight module
resolving a hash key through it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
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

from .conftest import people
from .servers import free_port
from .vault_server import Vault, vault_dev

pytestmark = pytest.mark.integration

KEY = "vault-held-hash-key-42"


@pytest.fixture(scope="module")
def vault() -> Iterator[Vault]:
    try:
        server = vault_dev()
        running = server.__enter__()
    except (FileNotFoundError, RuntimeError) as error:
        pytest.fail(str(error), pytrace=False)
    put = httpx.post(
        f"{running.address}/v1/secret/data/m4d/hash-key",
        headers={"X-Vault-Token": running.root_token},
        json={"data": {"key": KEY}},
    )
    put.raise_for_status()
    yield running
    server.__exit__(None, None, None)


def test_resolves_kv_v2_secrets_with_a_token(vault: Vault) -> None:
    credentials = open_store(CredentialSource(kind="vault", address=vault.address), {"VAULT_TOKEN": vault.root_token})
    assert credentials.resolve("m4d/hash-key") == {"key": KEY}
    with pytest.raises(CredentialNotFound) as missing:
        credentials.resolve("m4d/nothing-here")
    assert vault.root_token not in str(missing.value) and KEY not in repr(credentials)
    credentials.close()


def test_token_file_and_refused_tokens(vault: Vault, tmp_path: Path) -> None:
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
    vault: Vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
    expected = hmac.new(KEY.encode(), b"user0@example.org", hashlib.sha256).hexdigest()
    assert table.column("email")[0].as_py() == expected
