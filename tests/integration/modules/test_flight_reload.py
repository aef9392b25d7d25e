"""A running Flight module applies a changed configuration in place: withdrawn grants and new transforms
hold from the next call on, streams they concern end, others go on; as a process, from its file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.credentials import CredentialSource
from m4d.modules.config import ClientGrant, Listen, ModuleConfig
from m4d.modules.flight.served import ReloadRefused

from .conftest import Module, people

pytestmark = pytest.mark.integration

A, B = "token-a-reload-1", "token-b-reload-2"


def asset(asset_id: str, path: Path, actions: list[Action] | None = None) -> ModuleAsset:
    store = DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format="parquet")
    return ModuleAsset(asset_id=asset_id, capability="read", source=store, actions=actions or [])


TOKENS = {"a": A, "b": B}


def grants(**assets: list[str]) -> list[ClientGrant]:
    return [ClientGrant.for_token(f"ns/app-{who}", TOKENS[who], ids) for who, ids in assets.items()]


def granting(**assets: list[str]) -> dict[str, tuple[str, list[str]]]:
    """The same grants as `run_module` takes them."""
    return {f"ns/app-{who}": (TOKENS[who], ids) for who, ids in assets.items()}


def ticket(asset_id: str) -> flight.Ticket:
    return flight.Ticket(json.dumps({"asset": asset_id, "partition": 0}).encode())


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reload")
    pq.write_table(people(300_000), directory / "big.parquet", row_group_size=300_000)
    pq.write_table(people(50), directory / "small.parquet")
    return directory


@pytest.fixture
def data(tables: Path, tmp_path: Path) -> Path:
    for name in ("big.parquet", "small.parquet"):
        (tmp_path / name).symlink_to(tables / name)
    return tmp_path


def open_stream(module: Module, token: str, asset_id: str) -> flight.FlightStreamReader:
    reader = module.client().do_get(ticket(asset_id), Module.options(token))
    reader.read_chunk()  # the stream is open and serving
    return reader


def finish(reader: flight.FlightStreamReader) -> int:
    rows = 0
    while True:
        try:
            rows += reader.read_chunk().data.num_rows
        except StopIteration:
            return rows


def test_a_withdrawn_grant_refuses_the_next_call_and_ends_open_streams(
    data: Path, run_module: Callable[..., Module]
) -> None:
    assets = [asset("hr/big", data / "big.parquet"), asset("hr/small", data / "small.parquet")]
    module = run_module(assets, granting(a=["hr/big", "hr/small"], b=["hr/big"]), batch_rows=100)
    stream_a = open_stream(module, A, "hr/big")
    stream_b = open_stream(module, B, "hr/big")
    config = module.server.config.model_copy(update={"clients": grants(a=["hr/small"], b=["hr/big"])})
    changes = module.server.reload(config)
    assert changes == ["grants of ns/app-a: ['hr/big', 'hr/small'] -> ['hr/small']"]
    with pytest.raises(flight.FlightUnauthorizedError, match="access to hr/big was revoked") as ended:
        finish(stream_a)
    assert ended.value.extra_info == b"Revoked"
    assert finish(stream_b) > 0  # B keeps its grant: its stream goes on to the end
    with pytest.raises(flight.FlightUnauthorizedError, match="not available to application ns/app-a"):
        module.client().do_get(ticket("hr/big"), Module.options(A)).read_all()
    assert module.read(A, flight.FlightDescriptor.for_path("hr/small")).num_rows == 50
    names = [i.descriptor.path[0].decode() for i in module.client().list_flights(options=Module.options(A))]
    assert names == ["hr/small"]


def test_a_new_transform_holds_from_the_next_read_and_ends_streams_of_that_asset(
    data: Path, run_module: Callable[..., Module]
) -> None:
    big, other = asset("hr/big", data / "big.parquet"), asset("hr/other", data / "big.parquet")
    module = run_module([big, other], granting(a=["hr/big", "hr/other"]), batch_rows=100)
    on_big, on_other = open_stream(module, A, "hr/big"), open_stream(module, A, "hr/other")
    redacted = big.model_copy(update={"actions": [Action(name="RedactColumn", columns=["name"])]})
    changes = module.server.reload(module.server.config.model_copy(update={"assets": [redacted, other]}))
    assert changes == ["asset hr/big (read) changed"]
    with pytest.raises(flight.FlightUnauthorizedError, match="access to hr/big was revoked"):
        finish(on_big)
    assert finish(on_other) > 0  # another asset's stream is not concerned
    got = module.read(A, flight.FlightDescriptor.for_path("hr/big"))
    assert got.num_rows == 300_000 and set(got.column("name").to_pylist()) == {"XXXXXXXX"}
    # Loosening goes the same way: the redaction lifted, open values again.
    module.server.reload(module.server.config.model_copy(update={"assets": [big, other]}))
    assert module.read(A, flight.FlightDescriptor.for_path("hr/big")).column("name")[0].as_py() == "name-0"


def test_a_new_listen_address_cannot_be_applied_in_place(data: Path, run_module: Callable[..., Module]) -> None:
    module = run_module([asset("hr/small", data / "small.parquet")], granting(a=["hr/small"]))
    moved = module.server.config.model_copy(update={"listen": Listen(host="127.0.0.1", port=1)})
    with pytest.raises(ReloadRefused):
        module.server.reload(moved)
    assert module.read(A, flight.FlightDescriptor.for_path("hr/small")).num_rows == 50


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def test_the_module_process_applies_its_changed_file_and_stops_on_one_it_cannot_apply(
    data: Path, secrets_file: Path
) -> None:
    config = ModuleConfig(
        name="reloading",
        assets=[asset("hr/small", data / "small.parquet")],
        credentials=CredentialSource(kind="file", path=str(secrets_file)),
        clients=grants(a=["hr/small"], b=["hr/small"]),
    )
    path, ready = data / "module.yaml", data / "ready.json"
    path.write_text(config.dump())
    m4d = str(Path(sys.executable).with_name("m4d"))
    proc = subprocess.Popen(
        [m4d, "module", "flight", "--config", str(path), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the module did not become ready"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        client = flight.FlightClient(f"grpc://127.0.0.1:{info['port']}")

        def read() -> pa.Table:
            return client.do_get(ticket("hr/small"), Module.options(A)).read_all()

        assert read().num_rows == 50
        write_atomically(path, config.model_copy(update={"clients": grants(b=["hr/small"])}).dump())
        changed = time.monotonic()
        while True:
            try:
                read()
            except flight.FlightUnauthenticatedError:
                break
            if time.monotonic() - changed > 10:
                os.kill(proc.pid, 15)
                raise AssertionError(f"the withdrawn token still reads: {proc.communicate(timeout=30)[1].decode()}")
            time.sleep(0.05)
        assert json.loads(ready.read_text())["pid"] == proc.pid == info["pid"]  # in place: same process, port
        assert client.do_get(ticket("hr/small"), Module.options(B)).read_all().num_rows == 50
        write_atomically(path, "name: [\n")  # one it cannot apply: it stops rather than serve the old one
        assert proc.wait(timeout=30) == 1
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert "error: cannot apply the changed configuration, stopping" in err and "Traceback" not in err
        client.close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 15)
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()


def test_reloading_keeps_the_assets_that_did_not_change(data: Path, run_module: Callable[..., Module]) -> None:
    small = asset("hr/small", data / "small.parquet")
    module = run_module([small], granting(a=["hr/small"]))
    before = module.server.served.readable["hr/small"]
    module.server.reload(module.server.config.model_copy(update={"clients": grants(a=["hr/small"], b=[])}))
    assert module.server.served.readable["hr/small"] is before
    assert isinstance(module.read(A, flight.FlightDescriptor.for_path("hr/small")), pa.Table)
