"""The Flight module over TLS (grpc+tls): bearer tokens never cross the network in clear text."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Connection, DataStore
from m4d.errors import InvalidError
from m4d.modules.config import Listen, Tls
from m4d.modules.flight.run import endpoint

from .conftest import Module, people

pytestmark = pytest.mark.integration


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m4d-module")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def test_serves_over_tls(tmp_path: Path, run_module: Callable[..., Module]) -> None:
    pq.write_table(people(100), tmp_path / "p.parquet")
    cert, key = self_signed(tmp_path)
    store = DataStore(
        connection=Connection(kind="file", properties={"path": str(tmp_path / "p.parquet")}), format="parquet"
    )
    module = run_module(
        [ModuleAsset(asset_id="hr/p", capability="read", source=store)],
        {"ns/app": ("tls-token", ["hr/p"])},
        listen=Listen(port=0, tls=Tls(cert_file=str(cert), key_file=str(key))),
    )
    assert endpoint(module.server)["scheme"] == "grpc+tls"
    options = Module.options("tls-token")
    with flight.FlightClient(f"grpc+tls://127.0.0.1:{module.server.port}", tls_root_certs=cert.read_bytes()) as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_path("hr/p"), options)
        assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 100
    # A client speaking plain gRPC gets nowhere (and its token never reaches the module).
    plain_options = flight.FlightCallOptions(timeout=5, headers=[(b"authorization", b"Bearer tls-token")])
    with flight.FlightClient(f"grpc://127.0.0.1:{module.server.port}") as plain, pytest.raises(flight.FlightError):
        plain.get_flight_info(flight.FlightDescriptor.for_path("hr/p"), plain_options)


def test_an_unreadable_certificate_fails_start_up(tmp_path: Path, run_module: Callable[..., Module]) -> None:
    pq.write_table(people(1), tmp_path / "p.parquet")
    store = DataStore(
        connection=Connection(kind="file", properties={"path": str(tmp_path / "p.parquet")}), format="parquet"
    )
    tls = Tls(cert_file=str(tmp_path / "missing.crt"), key_file=str(tmp_path / "missing.key"))
    with pytest.raises(InvalidError, match="cannot read"):
        run_module([ModuleAsset(asset_id="hr/p", capability="read", source=store)], {}, listen=Listen(port=0, tls=tls))
