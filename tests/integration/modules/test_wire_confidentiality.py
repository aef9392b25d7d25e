"""No byte of a row a filter excludes, or of a cell policy removes, redacts or hashes, leaves a module.

Every such cell holds a unique marker (`§...§`; nothing else the module sends contains `§`). Each example
writes an asset in a random format, cut into random row groups / record batches, serves it with random
batch sizes and a random filter (contiguous runs, scattered rows, none), reads every endpoint through a
loopback relay that keeps every byte the server sends, and looks for every marker there: in the raw bytes
and in the HTTP/2 payloads (DATA frames joined per stream, headers and trailers decoded). Column types:
strings, binary, large strings, nested lists, structs, dictionaries. The copy module's output is searched
the same way. The relay must see the open values of kept rows, or it proves nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as pgdbapi
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.credentials import CredentialSource, open_store
from m4d.modules.config import ModuleConfig
from m4d.modules.copy import CopyJob, Reporter

from .conftest import HASH_KEY, Module
from .wiretap import Wiretap

pytestmark = pytest.mark.integration

TOKEN = "wire-token-5b1d"
MARK = "§"
OPEN = ("s", "b", "ls", "l", "ll", "st", "d")  # served as they are (unless a filter drops the row)
REDACTED, HASHED, REMOVED = ("red", "redd"), ("hsh", "hshb"), ("rm", "rml", "rmd")
CSV_COLUMNS = ("id", "grp", "s", "red", "hsh", "rm")
PG_COLUMNS = ("id", "grp", "s", "b", "l", "red", "hsh", "rm", "rml")


@dataclass(frozen=True)
class Shape:
    """One example: the data's size and grouping, how it is served, and which rows the filter keeps."""

    rows: int
    groups: list[int]  # per row: a small int the scattered filters test
    fmt: str  # parquet | arrow | csv
    chunk: int  # rows per Parquet row group / Arrow IPC record batch
    batch_rows: int
    rows_per_partition: int
    predicate: str | None
    keep: list[bool]
    columns: list[str] | None  # a projection, or everything visible


def predicates(rows: int, groups: list[int]) -> st.SearchStrategy[tuple[str | None, list[bool]]]:
    """A filter and the rows it keeps: none, a contiguous run of ids, its complement, a scattered set."""
    ids = st.integers(-2, rows + 2)
    ranged = st.tuples(ids, ids).map(lambda b: (min(b), max(b)))
    return st.one_of(
        st.just((None, [True] * rows)),
        ranged.map(lambda b: (f"id between {b[0]} and {b[1]}", [b[0] <= i <= b[1] for i in range(rows)])),
        ranged.map(lambda b: (f"not (id between {b[0]} and {b[1]})", [not b[0] <= i <= b[1] for i in range(rows)])),
        ids.map(lambda x: (f"id >= {x}", [i >= x for i in range(rows)])),
        ids.map(lambda x: (f"id < {x}", [i < x for i in range(rows)])),
        st.sets(st.integers(0, 4), min_size=1).map(
            lambda s: (f"grp in ({', '.join(map(str, sorted(s)))})", [g in s for g in groups])
        ),
    )


@st.composite
def shapes(draw: st.DrawFn, formats: tuple[str, ...] = ("parquet", "arrow", "csv")) -> Shape:
    rows = draw(st.integers(1, 150) if formats != ("postgres",) else st.integers(400, 3000))
    groups = draw(st.lists(st.integers(0, 4), min_size=rows, max_size=rows))
    fmt = draw(st.sampled_from(formats))
    predicate, keep = draw(predicates(rows, groups))
    names = COLUMNS.get(fmt, ("id", "grp", *OPEN, *REDACTED, *HASHED, *REMOVED))
    visible = [n for n in names if n not in REMOVED]
    columns = draw(st.none() | st.lists(st.sampled_from(visible), min_size=1, unique=True))
    return Shape(
        rows=rows,
        groups=groups,
        fmt=fmt,
        chunk=draw(st.integers(1, 60)),
        batch_rows=draw(st.integers(1, 50) if fmt != "postgres" else st.integers(1, 700)),
        rows_per_partition=draw(st.integers(1, 200) if fmt != "postgres" else st.integers(100, 1000)),
        predicate=predicate,
        keep=keep,
        columns=columns,
    )


class Cells:
    """Values that say what they are: markers for what must not leave, open values for what may."""

    def __init__(self, shape: Shape) -> None:
        self.shape = shape
        self.salt = secrets.token_hex(4)
        self.markers: list[str] = []
        self.open: list[str] = []

    def cell(self, column: str, row: int, part: int = 0, protected: bool = False) -> str:
        if protected or not self.shape.keep[row]:
            value = f"{MARK}{self.salt}-{column}-{row}-{part}{MARK}"
            self.markers.append(value)
        else:
            value = f"¶{self.salt}-{column}-{row}-{part}"
            self.open.append(value)
        return value

    def strings(self, column: str, protected: bool = False) -> list[str]:
        return [self.cell(column, i, protected=protected) for i in range(self.shape.rows)]

    def lists(self, column: str, protected: bool = False) -> list[list[str]]:
        return [[self.cell(column, i, k, protected) for k in range(1 + i % 3)] for i in range(self.shape.rows)]

    def table(self) -> pa.Table:
        n = self.shape.rows
        base = {"id": pa.array(range(n), pa.int64()), "grp": pa.array(self.shape.groups, pa.int32())}
        if self.shape.fmt == "csv":
            return pa.table({**base, "s": self.strings("s"), "red": self.strings("red", True),
                             "hsh": self.strings("hsh", True), "rm": self.strings("rm", True)})  # fmt: skip
        if self.shape.fmt == "postgres":
            return pa.table(
                {
                    **base,
                    "s": self.strings("s"),
                    "b": pa.array([v.encode() for v in self.strings("b")], pa.binary()),
                    "l": pa.array(self.lists("l"), pa.list_(pa.string())),
                    "red": self.strings("red", True),
                    "hsh": self.strings("hsh", True),
                    "rm": self.strings("rm", True),
                    "rml": pa.array(self.lists("rml", True), pa.list_(pa.string())),
                }
            )
        # Rows a filter keeps share dictionary entries; the dictionary also holds every excluded row's value.
        shared = [f"¶{self.salt}-d-{g}" for g in self.shape.groups]
        self.open += sorted({shared[i] for i in range(n) if self.shape.keep[i]})
        dictionary = [shared[i] if self.shape.keep[i] else self.cell("d", i) for i in range(n)]
        return pa.table(
            {
                **base,
                "s": self.strings("s"),
                "b": pa.array([v.encode() for v in self.strings("b")], pa.binary()),
                "ls": pa.array(self.strings("ls"), pa.large_string()),
                "l": pa.array(self.lists("l"), pa.list_(pa.string())),
                "ll": pa.array([[v] for v in self.lists("ll")], pa.list_(pa.list_(pa.string()))),
                "st": pa.array([{"v": v} for v in self.strings("st")], pa.struct([("v", pa.string())])),
                "d": pa.array(dictionary).dictionary_encode(),
                "red": self.strings("red", True),
                "redd": pa.array(self.strings("redd", True)).dictionary_encode(),
                "hsh": self.strings("hsh", True),
                "hshb": pa.array([v.encode() for v in self.strings("hshb", True)], pa.binary()),
                "rm": pa.array(self.strings("rm", True), pa.large_string()),
                "rml": pa.array(self.lists("rml", True), pa.list_(pa.string())),
                "rmd": pa.array(self.strings("rmd", True)).dictionary_encode(),
            }
        )


def write(table: pa.Table, shape: Shape, directory: Path) -> Path:
    if shape.fmt == "parquet":
        path = directory / "t.parquet"
        pq.write_table(table, path, row_group_size=shape.chunk)
    elif shape.fmt == "arrow":
        path = directory / "t.arrow"
        with pa.OSFile(str(path), "wb") as out, pa.ipc.new_file(out, table.schema) as writer:
            writer.write_table(table, max_chunksize=shape.chunk)
    else:
        path = directory / "t.csv"
        pacsv.write_csv(table, path)
    return path


COLUMNS = {"csv": CSV_COLUMNS, "postgres": PG_COLUMNS}


def actions(shape: Shape) -> list[Action]:
    present = set(COLUMNS[shape.fmt]) if shape.fmt in COLUMNS else None

    def cols(names: tuple[str, ...]) -> list[str]:
        return [n for n in names if present is None or n in present]

    out = [
        Action(name="RedactColumn", columns=cols(REDACTED)),
        Action(name="HashColumn", columns=cols(HASHED), options={"keyRef": "m4d/hash-key"}),
        Action(name="RemoveColumn", columns=cols(REMOVED)),
    ]
    if shape.predicate is not None:
        out.append(Action(name="FilterRows", options={"predicate": shape.predicate}))
    return out


def read_through_relay(module: Module, asset_id: str, columns: list[str] | None) -> tuple[pa.Table, Wiretap]:
    with Wiretap(module.server.port) as tap, flight.FlightClient(f"grpc://127.0.0.1:{tap.port}") as client:
        options = Module.options(TOKEN)
        descriptor = (
            flight.FlightDescriptor.for_path(asset_id)
            if columns is None
            else flight.FlightDescriptor.for_command(json.dumps({"asset": asset_id, "columns": columns}))
        )
        info = client.get_flight_info(descriptor, options)
        tables = [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
        list(client.list_flights(options=options))
        client.get_schema(descriptor, options)
    return (pa.concat_tables(tables) if tables else info.schema.empty_table()), tap


def assert_nothing_leaked(cells: Cells, tap: Wiretap, got: pa.Table, shape: Shape) -> None:
    raw, payloads = bytes(tap.received), tap.payloads()
    assert got.num_rows == sum(shape.keep)
    if "id" in got.column_names:
        assert sorted(got.column("id").to_pylist()) == [i for i in range(shape.rows) if shape.keep[i]]
    if MARK.encode() in raw or MARK.encode() in payloads:  # its two bytes might also occur by chance
        for value in cells.markers:
            assert value.encode() not in raw, f"{value} is on the wire"
            assert value.encode() not in payloads, f"{value} is in a gRPC payload or header"
    assert HASH_KEY.encode() not in payloads
    # The capture sees what was sent: open values of kept rows of columns sent as they are.
    sent = {f"¶{cells.salt}-{c}-" for c in got.column_names if c in OPEN}
    expected = [v for v in cells.open if any(v.startswith(prefix) for prefix in sent)]
    for value in expected[:: max(1, len(expected) // 40)]:
        assert value.encode() in payloads, f"the relay missed {value}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes(), copy=st.booleans())
def test_no_byte_of_an_excluded_row_or_protected_cell_reaches_the_wire(
    tmp_path_factory: pytest.TempPathFactory,
    run_module: Callable[..., Module],
    secrets_file: Path,
    shape: Shape,
    copy: bool,
) -> None:
    directory = tmp_path_factory.mktemp("wire")
    cells = Cells(shape)
    path = write(cells.table(), shape, directory)
    store = DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format=shape.fmt)
    asset = ModuleAsset(asset_id="w/t", capability="read", source=store, actions=actions(shape))
    module = run_module(
        [asset], {"ns/app": (TOKEN, ["w/t"])}, batch_rows=shape.batch_rows,
        rows_per_partition=shape.rows_per_partition,
    )  # fmt: skip
    got, tap = read_through_relay(module, "w/t", shape.columns)
    assert_nothing_leaked(cells, tap, got, shape)
    module.close()
    if copy:
        assert_copy_holds_no_marker(cells, asset, directory / "copy", secrets_file, shape)


def assert_copy_holds_no_marker(
    cells: Cells, asset: ModuleAsset, target: Path, secrets_file: Path, shape: Shape
) -> None:
    """The copy module's output: no marker in its files' bytes, nor in any value read back."""
    sink = DataStore(connection=Connection(kind="file", properties={"path": str(target)}), format="parquet")
    source = CredentialSource(kind="file", path=str(secrets_file))
    config = ModuleConfig(
        name="copy",
        assets=[asset.model_copy(update={"capability": "copy", "sink": sink})],
        credentials=source,
        batch_rows=shape.batch_rows,
        rows_per_partition=shape.rows_per_partition,
    )
    with Reporter(None, show_bar=False) as reporter:
        status = CopyJob(config, open_store(source), reporter).run()
    assert status.rows_copied == sum(shape.keep)
    files = sorted(target.rglob("*"))
    written = b"".join(f.read_bytes() for f in files if f.is_file())
    copied = pq.read_table(target).to_pylist() if status.rows_copied else []
    text = json.dumps(copied, default=str).encode() + written
    for value in cells.markers:
        assert value.encode() not in text, f"{value} is in the copy"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=shapes(formats=("postgres",)))
def test_no_byte_of_an_excluded_row_or_protected_cell_leaves_a_postgres_page_range(
    pg: Any, run_module: Callable[..., Module], shape: Shape
) -> None:
    cells = Cells(shape)
    with pgdbapi.connect(pg.uri) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS wire")
        cur.adbc_ingest("wire", cells.table(), mode="create")
        conn.commit()
        cur.execute("ANALYZE wire")
        conn.commit()
    props = {"host": pg.host, "port": pg.port, "database": pg.database, "table": "wire"}
    store = DataStore(connection=Connection(kind="postgres", properties=props), credential_ref="m4d/pg")
    asset = ModuleAsset(asset_id="w/pg", capability="read", source=store, actions=actions(shape))
    module = run_module(
        [asset], {"ns/app": (TOKEN, ["w/pg"])}, batch_rows=shape.batch_rows,
        rows_per_partition=shape.rows_per_partition,
    )  # fmt: skip
    got, tap = read_through_relay(module, "w/pg", shape.columns)
    assert_nothing_leaked(cells, tap, got, shape)
    module.close()
