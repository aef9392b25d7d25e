"""Who may read what, and what never leaves the module: tokens, grants, removed columns, original values
of redacted or hashed columns, paths, secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore

from .conftest import HASH_KEY, Module, people
from .wiretap import Wiretap

pytestmark = pytest.mark.integration

TOKEN_A, TOKEN_B = "token-a-0123456789", "token-b-9876543210"


def asset(asset_id: str, path: Path, actions: list[Action] | None = None) -> ModuleAsset:
    store = DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format="parquet")
    return ModuleAsset(asset_id=asset_id, capability="read", source=store, actions=actions or [])


@pytest.fixture
def two_apps(tmp_path: Path, run_module: Callable[..., Module]) -> Module:
    pq.write_table(people(100), tmp_path / "a.parquet")
    pq.write_table(people(100, offset=1000), tmp_path / "b.parquet")
    return run_module(
        [
            asset("hr/a", tmp_path / "a.parquet", [Action(name="RemoveColumn", columns=["ssn"])]),
            asset("hr/b", tmp_path / "b.parquet"),
        ],
        {"ns/app-a": (TOKEN_A, ["hr/a"]), "ns/app-b": (TOKEN_B, ["hr/b"])},
    )


def ticket(asset_id: str, partition: int = 0, columns: list[str] | None = None) -> flight.Ticket:
    body = {"asset": asset_id, "partition": partition} | ({"columns": columns} if columns else {})
    return flight.Ticket(json.dumps(body).encode())


@pytest.mark.parametrize("token", [None, "wrong-token", ""])
def test_unauthenticated_clients_are_refused_on_every_call(two_apps: Module, token: str | None) -> None:
    client, options = two_apps.client(), Module.options(token)
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(client.list_flights(options=options))
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(flight.FlightDescriptor.for_path("hr/a"), options)
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.do_get(ticket("hr/a"), options).read_all()


def test_application_a_cannot_read_b_s_asset_even_with_a_forged_ticket(two_apps: Module) -> None:
    client, options = two_apps.client(), Module.options(TOKEN_A)
    with pytest.raises(flight.FlightUnauthorizedError, match="not available to application ns/app-a"):
        client.get_flight_info(flight.FlightDescriptor.for_path("hr/b"), options)
    with pytest.raises(flight.FlightUnauthorizedError, match="not available"):
        client.do_get(ticket("hr/b"), options).read_all()
    # Unknown assets get the same answer: no probing which assets exist.
    with pytest.raises(flight.FlightUnauthorizedError, match="not available"):
        client.do_get(ticket("hr/zzz"), options).read_all()
    assert two_apps.client().do_get(ticket("hr/b"), Module.options(TOKEN_B)).read_all().num_rows == 100


def test_a_column_removed_by_policy_is_refused_by_name(two_apps: Module) -> None:
    client, options = two_apps.client(), Module.options(TOKEN_A)
    with pytest.raises(flight.FlightUnauthorizedError, match="column 'ssn' was removed by policy"):
        client.do_get(ticket("hr/a", columns=["id", "ssn"]), options).read_all()
    command = flight.FlightDescriptor.for_command(json.dumps({"asset": "hr/a", "columns": ["ssn"]}))
    with pytest.raises(flight.FlightUnauthorizedError, match="'ssn'"):
        client.get_flight_info(command, options)
    assert "ssn" not in client.do_get(ticket("hr/a"), options).read_all().column_names


@pytest.mark.parametrize(
    "asset_id",
    [
        "../a",
        "hr/../b",
        "/etc/passwd",
        "hr/a/..",
        "hr\\a",
        "hr/a\x00",
        "file:///etc/passwd",
        "hr/a; rm -rf /",
        "%2e%2e/a",
    ],
)
def test_path_traversal_and_injection_in_asset_ids_are_refused(two_apps: Module, asset_id: str) -> None:
    client, options = two_apps.client(), Module.options(TOKEN_A)
    with pytest.raises((flight.FlightServerError, flight.FlightUnauthorizedError, pa.ArrowInvalid)) as info:
        client.do_get(ticket(asset_id), options).read_all()
    assert "root:" not in str(info.value)
    with pytest.raises((flight.FlightServerError, flight.FlightUnauthorizedError, pa.ArrowInvalid)):
        client.get_flight_info(flight.FlightDescriptor.for_path(asset_id), options)


@pytest.mark.parametrize(
    "raw",
    [b"not json", b'{"asset": "hr/a"}', b'{"asset": "hr/a", "partition": -1}', b'{"asset": "hr/a", "partition": 99}',
     b'{"asset": "hr/a", "partition": 0, "path": "/etc/passwd"}', b"{" * 100_000],
)  # fmt: skip
def test_malformed_tickets_are_refused(two_apps: Module, raw: bytes) -> None:
    with pytest.raises((pa.ArrowInvalid, flight.FlightServerError)):
        two_apps.client().do_get(flight.Ticket(raw), Module.options(TOKEN_A)).read_all()


@pytest.mark.parametrize(
    "predicate",
    ["id = 1; DROP TABLE people", "id = 1 or 1=1 --", "__import__('os').system('id')", "name = 'x' || 'y'"],
)
def test_injection_in_filter_predicates_is_refused_at_start_up(
    tmp_path: Path, run_module: Callable[..., Module], predicate: str
) -> None:
    pq.write_table(people(10), tmp_path / "p.parquet")
    with pytest.raises(Exception, match=r"predicate|comparison|literals|character"):
        run_module(
            [asset("hr/p", tmp_path / "p.parquet", [Action(name="FilterRows", options={"predicate": predicate})])], {}
        )


# Secret values start with a mark nothing else contains (not the open values, the redaction constant,
# hex digests or gRPC framing), so finding one in the received bytes can only mean it leaked.
_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="§¶"), min_size=6, max_size=40
)
secret_values = _text.map(lambda s: "§" + s)
open_values = _text.map(lambda s: "¶" + s)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(secret_values, min_size=1, max_size=50), open_values=st.lists(open_values, min_size=1))
def test_no_original_value_of_a_redacted_or_hashed_column_reaches_the_client(
    tmp_path_factory: pytest.TempPathFactory,
    run_module: Callable[..., Module],
    values: list[str],
    open_values: list[str],
) -> None:
    directory = tmp_path_factory.mktemp("prop")
    n = len(values)
    opened = [open_values[i % len(open_values)] for i in range(n)]
    table = pa.table({"id": list(range(n)), "secret": values, "hashed": list(reversed(values)), "open": opened})
    pq.write_table(table, directory / "t.parquet")
    actions = [
        Action(name="RedactColumn", columns=["secret"]),
        Action(name="HashColumn", columns=["hashed"], options={"keyRef": "m4d/hash-key"}),
    ]
    module = run_module([asset("p/t", directory / "t.parquet", actions)], {"ns/app": (TOKEN_A, ["p/t"])})
    # Every byte the server sends, as it crosses the loopback: gRPC frames, headers, Arrow IPC bodies.
    with Wiretap(module.server.port) as tap, flight.FlightClient(f"grpc://127.0.0.1:{tap.port}") as client:
        options = Module.options(TOKEN_A)
        info = client.get_flight_info(flight.FlightDescriptor.for_path("p/t"), options)
        got = pa.concat_tables(client.do_get(e.ticket, options).read_all() for e in info.endpoints)
        list(client.list_flights(options=options))
        client.get_schema(flight.FlightDescriptor.for_path("p/t"), options)
    assert got.num_rows == n
    received = bytes(tap.received)
    for value in opened:  # the capture works: values of an untouched column are there
        assert value.encode() in received
    for value in values:
        assert value.encode() not in received
    assert HASH_KEY.encode() not in received
    module.close()


def test_secrets_are_absent_from_logs_and_errors(
    tmp_path: Path, run_module: Callable[..., Module], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pq.write_table(people(10), tmp_path / "p.parquet")
    actions = [Action(name="HashColumn", columns=["email"], options={"keyRef": "m4d/hash-key"})]
    module = run_module([asset("hr/p", tmp_path / "p.parquet", actions)], {"ns/app": (TOKEN_A, ["hr/p"])})
    module.read(TOKEN_A, flight.FlightDescriptor.for_path("hr/p"))
    errors = []
    for call in (
        lambda: module.client().do_get(ticket("hr/p", columns=["nope"]), Module.options(TOKEN_A)).read_all(),
        lambda: module.client().do_get(ticket("hr/p"), Module.options("bad-token-abc")).read_all(),
    ):
        with pytest.raises(flight.FlightError) as info:
            call()
        errors.append(str(info.value))
    with pytest.raises(Exception) as missing:  # any error, as long as it names no secret
        run_module(
            [
                asset(
                    "hr/q",
                    tmp_path / "p.parquet",
                    [Action(name="HashColumn", columns=["email"], options={"keyRef": "m4d/none"})],
                )
            ],
            {},
        )
    errors.append(str(missing.value))
    text = caplog.text + "\n".join(errors) + repr(module.server.config)
    for secret in (HASH_KEY, TOKEN_A, "bad-token-abc"):
        assert secret not in text
    assert "m4d/none" in errors[-1]
