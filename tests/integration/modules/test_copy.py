"""The implicit-copy module: transforms applied, progress reported, resumable after a crash (a real
`m4d module copy` process killed mid-copy) without duplicating rows, stale parts never reused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as pgdbapi
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.credentials import CredentialSource, open_store
from m4d.modules.config import CopyOptions, ModuleConfig
from m4d.modules.copy import CopyJob, CopyStatus, Reporter

from .conftest import people

pytestmark = pytest.mark.integration

ACTIONS = [
    Action(name="RemoveColumn", columns=["ssn"]),
    Action(name="HashColumn", columns=["email"], options={"keyRef": "m4d/hash-key"}),
]


def config(
    source: DataStore, sink: DataStore, secrets: Path, actions: list[Action] | None = None, **kw: Any
) -> ModuleConfig:
    asset = ModuleAsset(
        asset_id="hr/people",
        capability="copy",
        source=source,
        sink=sink,
        actions=ACTIONS if actions is None else actions,
    )
    return ModuleConfig(name="copy", assets=[asset], credentials=CredentialSource(kind="file", path=str(secrets)), **kw)


def file_store(path: Path) -> DataStore:
    return DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format="parquet")


def run(cfg: ModuleConfig, status_file: Path | None = None) -> CopyStatus:
    with Reporter(status_file, show_bar=False) as reporter:
        return CopyJob(cfg, open_store(cfg.credentials) if cfg.credentials else None, reporter).run()


def copied(path: Path) -> pa.Table:
    return ds.dataset(path, format="parquet").to_table()


def test_copies_with_transforms_reports_progress_and_is_idempotent(tmp_path: Path, secrets_file: Path) -> None:
    pq.write_table(people(10_000), tmp_path / "src.parquet", row_group_size=2500)
    cfg = config(
        file_store(tmp_path / "src.parquet"), file_store(tmp_path / "copy"), secrets_file,
        rows_per_partition=2500, copy=CopyOptions(register_copy=True, catalog="main"),
    )  # fmt: skip
    status = run(cfg, tmp_path / "status.json")
    assert status.phase == "Completed" and status.rows_copied == 10_000 and status.parts_total == 4
    table = copied(tmp_path / "copy")
    assert sorted(table.column("id").to_pylist()) == list(range(10_000))
    assert "ssn" not in table.column_names and len(table.column("email")[0].as_py()) == 64
    manifest = json.loads((tmp_path / "copy" / "_manifest.json").read_text())
    assert manifest["rows"] == 10_000 and len(manifest["parts"]) == 4
    figures = json.loads((tmp_path / "status.json").read_text())
    assert figures["phase"] == "Completed" and figures["rowsCopied"] == 10_000 and figures["rowsTotal"] == 10_000
    assert figures["catalogEntry"]["connection"]["properties"]["path"] == str(tmp_path / "copy")
    assert [c["name"] for c in figures["catalogEntry"]["columns"]] == table.column_names
    again = run(cfg)
    assert again.message == "already copied" and copied(tmp_path / "copy").num_rows == 10_000


def test_postgres_to_s3(pg: Any, s3fs: Any, s3_server: Any, secrets_file: Path) -> None:
    with pgdbapi.connect(pg.uri) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS copy_src")
        cur.adbc_ingest("copy_src", people(3000), mode="create")
        conn.commit()
    s3fs.create_dir("copies")
    pg_props = {"host": pg.host, "port": pg.port, "database": pg.database, "table": "copy_src"}
    source = DataStore(connection=Connection(kind="postgres", properties=pg_props), credential_ref="m4d/pg")
    s3_props = {"endpoint": s3_server.endpoint, "bucket": "copies", "prefix": "people"}
    sink = DataStore(connection=Connection(kind="s3", properties=s3_props), format="parquet", credential_ref="m4d/s3")
    filtered = [*ACTIONS, Action(name="FilterRows", options={"predicate": "country = 'US'"})]
    status = run(config(source, sink, secrets_file, filtered))
    assert status.rows_copied == 750
    table = ds.dataset("copies/people", filesystem=s3fs, format="parquet").to_table()
    assert set(table.column("country").to_pylist()) == {"US"} and table.num_rows == 750


def test_resumes_after_the_process_is_killed_without_duplicating_rows(tmp_path: Path, secrets_file: Path) -> None:
    rows = 400_000
    pq.write_table(people(rows), tmp_path / "src.parquet", row_group_size=5000)
    cfg = config(
        file_store(tmp_path / "src.parquet"), file_store(tmp_path / "copy"), secrets_file, rows_per_partition=5000
    )
    (tmp_path / "copy.yaml").write_text(cfg.dump())
    staging = tmp_path / "copy" / "_staging"
    m4d = str(Path(sys.executable).with_name("m4d"))
    proc = subprocess.Popen(
        [m4d, "module", "copy", "--config", str(tmp_path / "copy.yaml"), "--no-progress"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(list(staging.glob("*.parquet"))) < 5:
        assert proc.poll() is None, "the copy finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sorted(staging.glob("*.parquet"))
    assert 5 <= len(done_before) < 80
    assert not (tmp_path / "copy" / "_manifest.json").exists()
    # As if an earlier run had also been cut off while committing: two parts already moved into place.
    for staged in done_before[:2]:
        staged.rename(tmp_path / "copy" / f"part-{staged.stem}.parquet")

    status = run(cfg)

    assert status.resumed_parts >= len(done_before)
    table = copied(tmp_path / "copy")
    assert table.num_rows == rows
    assert sorted(table.column("id").to_pylist()) == list(range(rows))
    assert not staging.exists()


def test_a_changed_configuration_does_not_reuse_stale_parts(tmp_path: Path, secrets_file: Path) -> None:
    pq.write_table(people(4000), tmp_path / "src.parquet", row_group_size=1000)
    target = tmp_path / "copy"
    run(config(file_store(tmp_path / "src.parquet"), file_store(target), secrets_file, rows_per_partition=1000))
    assert len(list(target.glob("part-*"))) == 4
    pq.write_table(people(1500), tmp_path / "src.parquet", row_group_size=1000)  # the source changed
    stricter = [*ACTIONS, Action(name="RedactColumn", columns=["name"])]
    status = run(
        config(
            file_store(tmp_path / "src.parquet"), file_store(target), secrets_file, stricter, rows_per_partition=1000
        )
    )
    assert status.rows_copied == 1500
    table = copied(target)
    assert table.num_rows == 1500 and set(table.column("name").to_pylist()) == {"XXXXXXXX"}
