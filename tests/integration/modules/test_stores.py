"""Reading through the Flight module from S3 (moto server) and PostgreSQL (a real server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import adbc_driver_postgresql.dbapi as pgdbapi
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.errors import M4DError

from .conftest import PG_PASSWORD, S3_SECRET, Module, people

pytestmark = pytest.mark.integration

TOKEN = "token-stores"
ACTIONS = [
    Action(name="RedactColumn", columns=["name"]),
    Action(name="RemoveColumn", columns=["ssn"]),
    Action(name="HashColumn", columns=["email"], options={"keyRef": "m4d/hash-key"}),
    Action(name="FilterRows", options={"predicate": "country = 'DE'"}),
]


def s3_asset(s3_server: Any, bucket: str, key: str, fmt: str) -> ModuleAsset:
    props = {"endpoint": s3_server.endpoint, "bucket": bucket, "objectKey": key, "region": "us-east-1"}
    store = DataStore(connection=Connection(kind="s3", properties=props), format=fmt, credential_ref="m4d/s3")
    return ModuleAsset(asset_id="s3/people", capability="read", source=store, actions=ACTIONS)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_reads_from_s3(s3fs: Any, s3_server: Any, run_module: Callable[..., Module], fmt: str) -> None:
    bucket = f"data-{fmt}"
    s3fs.create_dir(bucket)
    table = people(3000)
    for i in range(2):  # a prefix holding two files
        with s3fs.open_output_stream(f"{bucket}/people/part-{i}.{fmt}") as out:
            part = table.slice(1500 * i, 1500)
            pq.write_table(part, out, row_group_size=500) if fmt == "parquet" else pacsv.write_csv(part, out)
    module = run_module(
        [s3_asset(s3_server, bucket, "people", fmt)], {"ns/app": (TOKEN, ["s3/people"])}, rows_per_partition=500
    )
    info = module.client().get_flight_info(flight.FlightDescriptor.for_path("s3/people"), Module.options(TOKEN))
    assert len(info.endpoints) == 2 * (1 if fmt == "csv" else 3)  # csv: a file each; parquet: a row group each
    got = module.read(TOKEN, flight.FlightDescriptor.for_path("s3/people")).sort_by("id")
    assert got.column("id").to_pylist() == list(range(0, 3000, 4))
    assert "ssn" not in got.column_names
    assert set(got.column("name").to_pylist()) == {"XXXXXXXX"}


def test_s3_errors_name_the_object_not_the_secret(s3fs: Any, s3_server: Any, run_module: Callable[..., Module]) -> None:
    s3fs.create_dir("empty-bucket")
    with pytest.raises(M4DError) as info:
        run_module([s3_asset(s3_server, "empty-bucket", "missing", "parquet")], {})
    assert "s3://empty-bucket/missing" in str(info.value)
    assert S3_SECRET not in str(info.value)


@pytest.fixture
def pg_table(pg: Any) -> str:
    with pgdbapi.connect(pg.uri) as conn, conn.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS public."People"')
        cur.adbc_ingest("People", people(5000), mode="create")
        conn.commit()
    return "People"


def pg_asset(pg: Any, table: str, ref: str = "m4d/pg") -> ModuleAsset:
    props = {"host": pg.host, "port": pg.port, "database": pg.database, "table": table}
    store = DataStore(connection=Connection(kind="postgres", properties=props), credential_ref=ref)
    return ModuleAsset(asset_id="pg/people", capability="read", source=store, actions=ACTIONS)


def test_reads_a_postgres_table(pg: Any, pg_table: str, run_module: Callable[..., Module]) -> None:
    module = run_module([pg_asset(pg, pg_table)], {"ns/app": (TOKEN, ["pg/people"])})
    got = module.read(TOKEN, flight.FlightDescriptor.for_path("pg/people")).sort_by("id")
    assert got.column("id").to_pylist() == list(range(0, 5000, 4))
    assert got.column_names == ["id", "name", "email", "country", "amount", "ts"]
    assert set(got.column("name").to_pylist()) == {"XXXXXXXX"}
    assert got.schema.field("ts").type == pa.timestamp("us")


def test_postgres_login_failure_is_reported_without_the_password(
    pg: Any, pg_table: str, run_module: Callable[..., Module]
) -> None:
    with pytest.raises(M4DError) as info:
        run_module([pg_asset(pg, pg_table, ref="m4d/pg-wrong")], {})
    assert "postgres://" in str(info.value)
    assert "not-the-password-77" not in str(info.value)
    assert PG_PASSWORD not in str(info.value)


def test_postgres_table_names_are_quoted_identifiers_never_sql(
    pg: Any, pg_table: str, run_module: Callable[..., Module]
) -> None:
    with pytest.raises(M4DError):
        run_module([pg_asset(pg, 'People"; DROP TABLE "People"; --')], {})
    with pgdbapi.connect(pg.uri) as conn, conn.cursor() as cur:
        cur.execute('SELECT count(*) FROM "People"')
        assert cur.fetchone() == (5000,)


def test_a_large_postgres_table_is_served_as_page_ranges(pg: Any, run_module: Callable[..., Module]) -> None:
    with pgdbapi.connect(pg.uri) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS big_people")
        cur.adbc_ingest("big_people", people(20_000), mode="create")
        conn.commit()
        cur.execute("ANALYZE big_people")
        conn.commit()
    module = run_module([pg_asset(pg, "big_people")], {"ns/app": (TOKEN, ["pg/people"])}, rows_per_partition=5000)
    info = module.client().get_flight_info(flight.FlightDescriptor.for_path("pg/people"), Module.options(TOKEN))
    assert len(info.endpoints) == 4
    got = module.read(TOKEN, flight.FlightDescriptor.for_path("pg/people"))
    assert sorted(got.column("id").to_pylist()) == list(range(0, 20_000, 4))  # every DE row, once
