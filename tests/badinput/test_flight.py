"""The Flight RPCs refuse bad requests as docs/modules.md documents them ("Refusals"): the Flight error
class of the refusal's kind, its reason code in `extra_info`, a short message naming what was refused,
no traceback and no source path; and nothing changed: the data on disk is as it was and the module goes
on serving the same rows."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.modules.config import ClientGrant, ColumnSpec, Listen, ModuleConfig
from m4d.modules.flight.run import start
from m4d.modules.flight.server import FlightModule

TOKEN = "badinput-flight-token-3c1f"
OTHER = "badinput-flight-other-9e2d"  # granted the read asset only
Call = Callable[[flight.FlightClient, flight.FlightCallOptions], object]


def _ticket(body: object) -> flight.Ticket:
    return flight.Ticket(body if isinstance(body, bytes) else json.dumps(body).encode())


def _get(body: object) -> Call:
    return lambda c, o: c.do_get(_ticket(body), o).read_all()


def _info(descriptor: flight.FlightDescriptor) -> Call:
    return lambda c, o: c.get_flight_info(descriptor, o)


def _put(asset: str, table: pa.Table) -> Call:
    def call(c: flight.FlightClient, o: flight.FlightCallOptions) -> object:
        writer, _ = c.do_put(flight.FlightDescriptor.for_path(asset), table.schema, o)
        writer.write_table(table)
        writer.close()
        return None

    return call


RPCS: dict[str, Call] = {
    "list_flights": lambda c, o: list(c.list_flights(options=o)),
    "get_flight_info": _info(flight.FlightDescriptor.for_path("hr/p")),
    "do_get": _get({"asset": "hr/p", "partition": 0}),
    "list_actions": lambda c, o: list(c.list_actions(o)),
    "do_action": lambda c, o: list(c.do_action(flight.Action("reload", b""), o)),
    "do_exchange": lambda c, o: c.do_exchange(flight.FlightDescriptor.for_path("hr/p"), o)[1].read_all(),
    "do_put": _put("out/p", pa.table({"id": pa.array([1], pa.int64())})),
}


@dataclass(frozen=True)
class Case:
    id: str
    call: Call
    error: type[flight.FlightError]
    reason: str | None  # extra_info; None where the authentication middleware refuses before the call
    says: str
    token: str | None = TOKEN


def _unauthenticated() -> list[Case]:
    cases = [
        Case(f"{rpc}-{who}", call, flight.FlightUnauthenticatedError, None, "bearer token", token)
        for rpc, call in RPCS.items()
        for who, token in (("no-token", None), ("unknown-token", "not-a-token"))
    ]
    return cases


def _tickets() -> list[Case]:
    malformed, server = "Malformed", flight.FlightServerError
    bad = [
        ("not-json", b"not json", "malformed ticket: not JSON"),
        ("not-utf8", b"\xff\xfe\x00", "malformed ticket: not JSON"),
        ("empty", b"", "malformed ticket: not JSON"),
        ("deep", b"[" * 5000, "malformed ticket: not JSON"),
        ("very-deep", b"{" * 100_000, "malformed ticket: larger than 65536 bytes"),
        (
            "over-64kib",
            json.dumps({"asset": "hr/p", "partition": 0, "columns": ["x" * 70_000]}).encode(),
            "larger than 65536 bytes",
        ),
        ("list", b"[]", "malformed ticket"),
        ("no-partition", {"asset": "hr/p"}, "malformed ticket"),
        ("negative-partition", {"asset": "hr/p", "partition": -1}, "malformed ticket"),
        ("text-partition", {"asset": "hr/p", "partition": "0"}, "malformed ticket"),
        ("nan-partition", b'{"asset": "hr/p", "partition": NaN}', "malformed ticket"),
        ("path-traversal", {"asset": "../etc/passwd", "partition": 0}, "malformed ticket"),
        ("shell-asset", {"asset": "$(rm -rf /)", "partition": 0}, "malformed ticket"),
        ("nul-asset", {"asset": "hr/p\u0000", "partition": 0}, "malformed ticket"),
        ("extra-path", {"asset": "hr/p", "partition": 0, "path": "/etc/passwd"}, "malformed ticket"),
        ("null-asset", {"asset": None, "partition": 0}, "malformed ticket"),
    ]
    cases = [Case(f"ticket-{name}", _get(body), server, malformed, says) for name, body, says in bad]
    cases += [
        Case(
            "ticket-no-such-partition",
            _get({"asset": "hr/p", "partition": 99}),
            server,
            "NoSuchPartition",
            "asset 'hr/p' has 1 partitions",
        ),
        Case(
            "ticket-not-granted",
            _get({"asset": "out/p", "partition": 0}),
            flight.FlightUnauthorizedError,
            "NotGranted",
            "is not available to application",
        ),
        Case(
            "ticket-unknown-asset",
            _get({"asset": "hr/nope", "partition": 0}),
            flight.FlightUnauthorizedError,
            "NotGranted",
            "asset 'hr/nope' is not available",
        ),
        Case(
            "ticket-removed-column",
            _get({"asset": "hr/p", "partition": 0, "columns": ["ssn"]}),
            flight.FlightUnauthorizedError,
            "ColumnRefused",
            "column 'ssn' was removed by policy",
        ),
        Case(
            "ticket-unknown-column",
            _get({"asset": "hr/p", "partition": 0, "columns": ["nope"]}),
            flight.FlightUnauthorizedError,
            "ColumnRefused",
            "'nope'",
        ),
    ]
    return cases


def _descriptors() -> list[Case]:
    server, malformed = flight.FlightServerError, "Malformed"
    bad = [
        ("two-parts", flight.FlightDescriptor.for_path("a", "b"), "names exactly one asset id"),
        ("backslash", flight.FlightDescriptor.for_path("hr\\p"), "is not an asset id"),
        ("empty-path", flight.FlightDescriptor.for_path(""), "is not an asset id"),
        ("dot-dot", flight.FlightDescriptor.for_path("hr/../p"), "is not an asset id"),
        ("binary-command", flight.FlightDescriptor.for_command(b"\x00\x01"), "malformed request: not JSON"),
        ("unknown-field", flight.FlightDescriptor.for_command(b'{"asset": "hr/p", "x": 1}'), "malformed request"),
        (
            "columns-text",
            flight.FlightDescriptor.for_command(b'{"asset": "hr/p", "columns": "id"}'),
            "malformed request",
        ),
        ("command-over-64kib", flight.FlightDescriptor.for_command(b" " * 70_000 + b"{}"), "larger than 65536"),
    ]
    cases = [Case(f"descriptor-{name}", _info(d), server, malformed, says) for name, d, says in bad]
    cases += [
        Case(
            "descriptor-not-granted",
            _info(flight.FlightDescriptor.for_path("hr/other")),
            flight.FlightUnauthorizedError,
            "NotGranted",
            "is not available",
        ),
        Case(
            "descriptor-removed-column",
            _info(flight.FlightDescriptor.for_command(b'{"asset": "hr/p", "columns": ["ssn"]}')),
            flight.FlightUnauthorizedError,
            "ColumnRefused",
            "column 'ssn' was removed by policy",
        ),
    ]
    return cases


def _unsupported_and_writes() -> list[Case]:
    server = flight.FlightServerError
    return [
        Case("action-reload", RPCS["do_action"], server, "Unsupported", "offers no action 'reload'"),
        Case(
            "action-empty",
            lambda c, o: list(c.do_action(flight.Action("", b""), o)),
            server,
            "Unsupported",
            "offers no action",
        ),
        Case("exchange", RPCS["do_exchange"], server, "Unsupported", "DoExchange is not supported"),
        Case(
            "put-unknown-column",
            _put("out/p", pa.table({"email": ["someone@example.org"]})),
            server,
            "WriteRefused",
            "writing out/p refused",
        ),
        Case(
            "put-extra-column",
            _put("out/p", pa.table({"id": [1], "ssn": ["x"]})),
            server,
            "WriteRefused",
            "writing out/p refused",
        ),
        Case(
            "put-read-asset",
            _put("hr/p", pa.table({"id": [1]})),
            flight.FlightUnauthorizedError,
            "NotGranted",
            "is not available",
        ),
        Case(
            "put-not-granted",
            _put("out/p", pa.table({"id": pa.array([1], pa.int64())})),
            flight.FlightUnauthorizedError,
            "NotGranted",
            "is not available",
            token=OTHER,
        ),
        Case(
            "put-bad-descriptor",
            lambda c, o: c.do_put(flight.FlightDescriptor.for_path("../x"), pa.schema([("id", pa.int64())]), o)[
                0
            ].close(),
            server,
            "Malformed",
            "is not an asset id",
        ),
    ]


CLASSES = {
    "unauthenticated calls (every RPC)": _unauthenticated(),
    "tickets (DoGet)": _tickets(),
    "descriptors (GetFlightInfo, DoPut)": _descriptors(),
    "unsupported RPCs and refused writes": _unsupported_and_writes(),
}
CASES = [c for cases in CLASSES.values() for c in cases]


@dataclass
class Running:
    server: FlightModule
    root: Path

    @property
    def location(self) -> str:
        return f"grpc://127.0.0.1:{self.server.port}"

    def files(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }


def options(token: str | None) -> flight.FlightCallOptions:
    return flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())] if token else [])


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("flight")
    table = pa.table({"id": pa.array(range(5), pa.int64()), "name": list("abcde"), "ssn": ["1", "2", "3", "4", "5"]})
    pq.write_table(table, root / "p.parquet")
    (root / "out").mkdir()
    read = ModuleAsset(
        asset_id="hr/p",
        capability="read",
        source=DataStore(
            connection=Connection(kind="file", properties={"path": str(root / "p.parquet")}), format="parquet"
        ),
        actions=[Action(name="RemoveColumn", columns=["ssn"])],
    )
    write = ModuleAsset(
        asset_id="out/p",
        capability="write",
        sink=DataStore(connection=Connection(kind="file", properties={"path": str(root / "out")}), format="parquet"),
        actions=[],
    )
    config = ModuleConfig(
        name="badinput",
        listen=Listen(host="127.0.0.1", port=0),
        assets=[read, write],
        clients=[
            ClientGrant.for_token("ns/app", TOKEN, ["hr/p", "out/p"]),
            ClientGrant.for_token("ns/other", OTHER, ["hr/p"]),
        ],
        catalog_columns={"out/p": [ColumnSpec(name="id", type="int64")]},
    )
    server = start(config)
    yield Running(server, root)
    server.shutdown()


def good_read(module: Running) -> pa.Table:
    with flight.FlightClient(module.location) as client:
        return client.do_get(_ticket({"asset": "hr/p", "partition": 0}), options(TOKEN)).read_all()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_flight_refuses_as_documented(case: Case, module: Running) -> None:
    before, rows = module.files(), good_read(module)
    with flight.FlightClient(module.location) as client, pytest.raises(case.error) as info:
        case.call(client, options(case.token))
    text = str(info.value)
    assert "Traceback" not in text and 'File "/' not in text and ".py" not in text, text
    assert case.says in text, text
    if case.reason is not None:
        assert info.value.extra_info == case.reason.encode(), (text, info.value.extra_info)
    assert module.files() == before, "a refused call changed the data"
    assert good_read(module).equals(rows)
    assert "ssn" not in rows.column_names
