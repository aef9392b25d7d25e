"""Fixtures for the modules' integration tier: sample data on disk, a secrets file, and Flight modules
started in-process on a free loopback port (real gRPC, real clients)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pytest
import yaml
from pyarrow import fs

from m4d.api.blueprint import ModuleAsset
from m4d.credentials import CredentialSource
from m4d.modules.config import ClientGrant, Listen, ModuleConfig
from m4d.modules.flight.run import start
from m4d.modules.flight.server import FlightModule

from .servers import postgres, s3

HASH_KEY = "hash-key-1c9e7d2f"
S3_SECRET = "s3-secret-9f8e7d6c5b4a"  # the moto server accepts any
PG_PASSWORD = "pg-test-password-5a7c"  # tests/integration/modules/servers.py sets it


def people(n: int, offset: int = 0) -> pa.Table:
    """A small table with one column of each kind policies act on."""
    start = datetime(2024, 1, 1)
    return pa.table(
        {
            "id": pa.array(range(offset, offset + n), pa.int64()),
            "name": [f"name-{i}" for i in range(offset, offset + n)],
            "ssn": [f"{i:03d}-55-{i % 10000:04d}" for i in range(offset, offset + n)],
            "email": [f"user{i}@example.org" for i in range(offset, offset + n)],
            "country": [("DE", "FR", "US", "IT")[i % 4] for i in range(offset, offset + n)],
            "amount": [i * 1.5 for i in range(offset, offset + n)],
            "ts": [start + timedelta(minutes=i) for i in range(offset, offset + n)],
        }
    )


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "m4d/hash-key": {"key": HASH_KEY},
                "m4d/s3": {"access_key": "testing", "secret_key": S3_SECRET},
                "m4d/pg": {"username": "m4d", "password": PG_PASSWORD},
                "m4d/pg-wrong": {"username": "m4d", "password": "not-the-password-77"},
            }
        )
    )
    return path


class Module:
    """A running module and clients for it."""

    def __init__(self, server: FlightModule) -> None:
        self.server = server
        self.location = f"grpc://127.0.0.1:{server.port}"
        self._clients: list[flight.FlightClient] = []

    def client(self) -> flight.FlightClient:
        client = flight.FlightClient(self.location)
        self._clients.append(client)
        return client

    @staticmethod
    def options(token: str | None) -> flight.FlightCallOptions:
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        return flight.FlightCallOptions(headers=headers)

    def read(self, token: str, descriptor: flight.FlightDescriptor) -> pa.Table:
        client = self.client()
        options = self.options(token)
        info = client.get_flight_info(descriptor, options)
        tables = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
        return pa.concat_tables(tables) if tables else info.schema.empty_table()

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self.server.shutdown()


@pytest.fixture
def run_module(secrets_file: Path) -> Iterator[Callable[..., Module]]:
    started: list[Module] = []

    def run(assets: list[ModuleAsset], grants: dict[str, tuple[str, list[str]]], **extra: Any) -> Module:
        config = ModuleConfig(
            name="test-module",
            listen=extra.pop("listen", Listen(host="127.0.0.1", port=0)),
            assets=assets,
            credentials=CredentialSource(kind="file", path=str(secrets_file)),
            clients=[ClientGrant.for_token(app, token, ids) for app, (token, ids) in grants.items()],
            **extra,
        )
        module = Module(start(config))
        started.append(module)
        return module

    yield run
    for m in started:
        m.close()


@pytest.fixture(scope="session")
def pg() -> Iterator[Any]:
    try:
        server = postgres()
        value = server.__enter__()
    except (FileNotFoundError, RuntimeError) as error:
        pytest.fail(str(error), pytrace=False)
    yield value
    server.__exit__(None, None, None)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    with s3() as server:
        yield server


@pytest.fixture
def s3fs(s3_server: Any) -> Any:
    host = s3_server.endpoint.split("://", 1)[1]
    return fs.S3FileSystem(
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        endpoint_override=host,
        scheme="http",
        region="us-east-1",
        allow_bucket_creation=True,
    )
