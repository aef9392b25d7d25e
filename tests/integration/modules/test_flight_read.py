"""The Flight module reading Parquet, CSV and Arrow files from local disk, with each policy action."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.errors import InvalidError, M4DError

from .conftest import HASH_KEY, Module, people

pytestmark = pytest.mark.integration

TOKEN = "token-of-app-a"


def asset(asset_id: str, path: Path, fmt: str, actions: list[Action] | None = None) -> ModuleAsset:
    store = DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format=fmt)
    return ModuleAsset(asset_id=asset_id, capability="read", source=store, actions=actions or [])


def write(tmp_path: Path, fmt: str, table: pa.Table) -> Path:
    path = tmp_path / f"people.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path, row_group_size=1000)
    elif fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        with pa.ipc.new_file(path, table.schema) as w:
            w.write_table(table, max_chunksize=1000)
    return path


ALL_ACTIONS = [
    Action(name="RedactColumn", columns=["name"]),
    Action(name="RemoveColumn", columns=["ssn"]),
    Action(name="HashColumn", columns=["email"], options={"keyRef": "m4d/hash-key"}),
    Action(name="FilterRows", options={"predicate": "country in ('DE', 'FR') and amount >= 30"}),
]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "arrow"])
def test_reads_each_format_with_every_action(tmp_path: Path, run_module: Callable[..., Module], fmt: str) -> None:
    table = people(5000)
    path = write(tmp_path, fmt, table)
    module = run_module([asset("hr/people", path, fmt, ALL_ACTIONS)], {"ns/app-a": (TOKEN, ["hr/people"])})

    got = module.read(TOKEN, flight.FlightDescriptor.for_path("hr/people")).sort_by("id")

    expected = table.filter(pa.compute.field("amount") >= 30).filter(pa.compute.field("country").isin(["DE", "FR"]))
    assert got.column_names == ["id", "name", "email", "country", "amount", "ts"]
    assert got.column("id").to_pylist() == expected.column("id").to_pylist()
    assert set(got.column("name").to_pylist()) == {"XXXXXXXX"}
    assert got.column("email").to_pylist() == [
        hashlib.blake2s(e.encode(), key=HASH_KEY.encode()).hexdigest() for e in expected.column("email").to_pylist()
    ]


def test_one_endpoint_per_row_group_range_for_parallel_reads(tmp_path: Path, run_module: Callable[..., Module]) -> None:
    path = write(tmp_path, "parquet", people(10_000))  # 10 row groups of 1000
    module = run_module(
        [asset("hr/people", path, "parquet")], {"ns/app-a": (TOKEN, ["hr/people"])}, rows_per_partition=3000
    )
    info = module.client().get_flight_info(flight.FlightDescriptor.for_path("hr/people"), Module.options(TOKEN))
    assert len(info.endpoints) == 4  # 3 + 3 + 3 + 1 row groups
    assert info.total_records == 10_000
    assert module.read(TOKEN, flight.FlightDescriptor.for_path("hr/people")).num_rows == 10_000


def test_a_directory_of_files_is_one_asset(tmp_path: Path, run_module: Callable[..., Module]) -> None:
    data = tmp_path / "dataset"
    data.mkdir()
    for i in range(3):
        pq.write_table(people(100, offset=100 * i), data / f"part-{i}.parquet")
    (data / "_staging").mkdir()
    pq.write_table(people(5), data / "_staging" / "ignored.parquet")
    module = run_module([asset("hr/people", data, "parquet")], {"ns/app-a": (TOKEN, ["hr/people"])})
    got = module.read(TOKEN, flight.FlightDescriptor.for_path("hr/people"))
    assert sorted(got.column("id").to_pylist()) == list(range(300))


def test_columns_can_be_asked_for_and_the_schema_is_known_before_data(
    tmp_path: Path, run_module: Callable[..., Module]
) -> None:
    path = write(tmp_path, "parquet", people(100))
    module = run_module([asset("hr/people", path, "parquet", ALL_ACTIONS)], {"ns/app-a": (TOKEN, ["hr/people"])})
    command = flight.FlightDescriptor.for_command(json.dumps({"asset": "hr/people", "columns": ["email", "id"]}))
    schema = module.client().get_schema(command, Module.options(TOKEN)).schema
    assert schema.names == ["email", "id"]
    assert schema.field("email").type == pa.string()
    got = module.read(TOKEN, command)
    assert got.schema == schema
    assert got.num_rows == 40  # ids 20..99 in DE or FR


def test_list_flights_shows_only_granted_assets(tmp_path: Path, run_module: Callable[..., Module]) -> None:
    path = write(tmp_path, "parquet", people(10))
    module = run_module(
        [asset("hr/people", path, "parquet"), asset("hr/other", path, "parquet")],
        {"ns/app-a": (TOKEN, ["hr/people"]), "ns/app-b": ("token-b", ["hr/other", "hr/people"])},
    )
    listed = list(module.client().list_flights(options=Module.options(TOKEN)))
    assert [i.descriptor.path for i in listed] == [[b"hr/people"]]
    assert len(list(module.client().list_flights(options=Module.options("token-b")))) == 2


def test_start_up_fails_on_a_bad_configuration_not_mid_stream(
    tmp_path: Path, run_module: Callable[..., Module]
) -> None:
    path = write(tmp_path, "parquet", people(10))
    bad = [Action(name="RedactColumn", columns=["nosuch"]), Action(name="Scramble", columns=["id"])]
    with pytest.raises(InvalidError, match="no column 'nosuch'") as info:
        run_module([asset("hr/people", path, "parquet", bad)], {})
    assert "unknown action 'Scramble'" in str(info.value)


def test_a_file_with_another_schema_fails_start_up(tmp_path: Path, run_module: Callable[..., Module]) -> None:
    data = tmp_path / "dataset"
    data.mkdir()
    pq.write_table(people(10), data / "a.parquet")
    pq.write_table(people(10).drop_columns(["ssn"]), data / "b.parquet")
    with pytest.raises(M4DError, match=r"b\.parquet does not have the schema"):
        run_module([asset("hr/people", data, "parquet")], {})
