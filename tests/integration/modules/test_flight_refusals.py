"""Every refusal is a Flight error of its documented class, with a short message and a reason code, and
carries no data, no traceback and no source path; drivers' texts go only to the module's log, masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.errors import M4DError

from .conftest import Module, people

pytestmark = pytest.mark.integration

TOKEN = "refusal-token-77aa"
SECRET_SSN = "987-65-4321"  # a protected value in a malformed row


def asset(asset_id: str, path: Path, fmt: str = "parquet", actions: list[Action] | None = None) -> ModuleAsset:
    store = DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format=fmt)
    return ModuleAsset(asset_id=asset_id, capability="read", source=store, actions=actions or [])


@pytest.fixture
def module(tmp_path: Path, run_module: Callable[..., Module]) -> Module:
    pq.write_table(people(20), tmp_path / "p.parquet")
    actions = [Action(name="RemoveColumn", columns=["ssn"])]
    return run_module([asset("hr/p", tmp_path / "p.parquet", actions=actions)], {"ns/app": (TOKEN, ["hr/p"])})


def assert_clean(error: BaseException, reason: str | None) -> None:
    text = str(error)
    assert "Traceback" not in text and 'File "/' not in text and ".py" not in text, text
    if reason is not None:
        assert getattr(error, "extra_info", None) == reason.encode(), (text, getattr(error, "extra_info", None))


def ticket(body: Any) -> flight.Ticket:
    return flight.Ticket(json.dumps(body).encode() if not isinstance(body, bytes) else body)


CALLS: dict[str, Callable[[flight.FlightClient, flight.FlightCallOptions], object]] = {
    "list_flights": lambda c, o: list(c.list_flights(options=o)),
    "get_flight_info": lambda c, o: c.get_flight_info(flight.FlightDescriptor.for_path("hr/p"), o),
    "do_get": lambda c, o: c.do_get(ticket({"asset": "hr/p", "partition": 0}), o).read_all(),
    "list_actions": lambda c, o: list(c.list_actions(o)),
    "do_action": lambda c, o: list(c.do_action(flight.Action("reload", b""), o)),
    "do_exchange": lambda c, o: c.do_exchange(flight.FlightDescriptor.for_path("hr/p"), o)[1].read_all(),
    "do_put": lambda c, o: c.do_put(flight.FlightDescriptor.for_path("hr/p"), pa.schema([("a", pa.int8())]), o)[
        0
    ].close(),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_unauthenticated_calls_are_refused_cleanly_on_every_rpc(module: Module, call: str, token: str | None) -> None:
    with pytest.raises(flight.FlightUnauthenticatedError) as info:
        CALLS[call](module.client(), Module.options(token))
    assert_clean(info.value, None)  # the middleware refuses before the call: no reason code needed
    assert "bearer token" in str(info.value)


def test_unsupported_rpcs_are_refused_cleanly(module: Module) -> None:
    client, options = module.client(), Module.options(TOKEN)
    assert list(client.list_actions(options)) == []
    with pytest.raises(flight.FlightServerError, match="offers no action 'reload'") as action:
        list(client.do_action(flight.Action("reload", b""), options))
    assert_clean(action.value, "Unsupported")
    with pytest.raises(flight.FlightServerError, match="DoExchange is not supported") as exchange:
        _writer, reader = client.do_exchange(flight.FlightDescriptor.for_path("hr/p"), options)
        reader.read_all()
    assert_clean(exchange.value, "Unsupported")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "Malformed"),
        (b"\xff\xfe\x00", "Malformed"),
        (b"[" * 5000, "Malformed"),
        (b"{" * 100_000, "Malformed"),
        ({"asset": "hr/p"}, "Malformed"),
        ({"asset": "hr/p", "partition": -1}, "Malformed"),
        ({"asset": "hr/p", "partition": "0"}, "Malformed"),
        ({"asset": "../etc/passwd", "partition": 0}, "Malformed"),
        ({"asset": "hr/p", "partition": 0, "path": "/etc/passwd"}, "Malformed"),
        ({"asset": "hr/p", "partition": 99}, "NoSuchPartition"),
        ({"asset": "hr/q", "partition": 0}, "NotGranted"),
        ({"asset": "hr/p", "partition": 0, "columns": ["ssn"]}, "ColumnRefused"),
        ({"asset": "hr/p", "partition": 0, "columns": ["nope"]}, "ColumnRefused"),
    ],
)
def test_bad_tickets_are_refused_with_their_class_and_reason(module: Module, raw: Any, reason: str) -> None:
    expected = {
        "NotGranted": flight.FlightUnauthorizedError,
        "ColumnRefused": flight.FlightUnauthorizedError,
    }.get(reason, flight.FlightServerError)
    with pytest.raises(expected) as info:
        module.client().do_get(ticket(raw), Module.options(TOKEN)).read_all()
    assert_clean(info.value, reason)


@pytest.mark.parametrize(
    ("descriptor", "reason", "kind"),
    [
        (flight.FlightDescriptor.for_path("a", "b"), "Malformed", flight.FlightServerError),
        (flight.FlightDescriptor.for_path("hr\\p"), "Malformed", flight.FlightServerError),
        (flight.FlightDescriptor.for_command(b"\x00\x01"), "Malformed", flight.FlightServerError),
        (flight.FlightDescriptor.for_command(b'{"asset": "hr/p", "x": 1}'), "Malformed", flight.FlightServerError),
        (flight.FlightDescriptor.for_path("hr/other"), "NotGranted", flight.FlightUnauthorizedError),
        (
            flight.FlightDescriptor.for_command(b'{"asset": "hr/p", "columns": ["ssn"]}'),
            "ColumnRefused",
            flight.FlightUnauthorizedError,
        ),
    ],
)
def test_bad_descriptors_are_refused_by_get_flight_info_and_get_schema(
    module: Module, descriptor: flight.FlightDescriptor, reason: str, kind: type[Exception]
) -> None:
    client, options = module.client(), Module.options(TOKEN)
    with pytest.raises(kind) as info:
        client.get_flight_info(descriptor, options)
    assert_clean(info.value, reason)
    # pyarrow's GetSchema handler answers any refusal as "Unknown error" with a traceback of its own
    # making; the refusal's class and message are in it, and no path of the module's source.
    with pytest.raises(pa.ArrowException) as schema:
        client.get_schema(descriptor, options)
    text = str(schema.value)
    assert kind.__name__ in text
    assert 'File "/' not in text and "server.py" not in text and "refusals.py" not in text, text


def test_a_refused_write_says_why_without_data(tmp_path: Path, run_module: Callable[..., Module]) -> None:
    sink = DataStore(connection=Connection(kind="file", properties={"path": str(tmp_path / "out")}), format="parquet")
    writable = ModuleAsset(asset_id="out/p", capability="write", sink=sink, actions=[])
    module = run_module([writable], {"ns/app": (TOKEN, ["out/p"])}, catalog_columns={"out/p": [{"name": "id"}]})
    writer, _ = module.client().do_put(
        flight.FlightDescriptor.for_path("out/p"), pa.schema([("email", pa.string())]), Module.options(TOKEN)
    )
    with pytest.raises(flight.FlightServerError) as info:
        writer.write_table(pa.table({"email": ["someone@example.org"]}))
        writer.close()
    assert_clean(info.value, "WriteRefused")
    assert "someone@example.org" not in str(info.value)


def malformed_csv(directory: Path) -> Path:
    """A directory of two CSV files; the second has a row with one field too many, quoting an SSN."""
    directory.mkdir()
    (directory / "a.csv").write_text("id,name,ssn\n1,ann,111-22-3333\n2,bob,222-33-4444\n")
    (directory / "b.csv").write_text(f"id,name,ssn\n3,cy,333-44-5555\n4,dee,{SECRET_SSN},surplus-value\n")
    return directory


def test_a_source_error_mid_stream_reaches_the_client_without_data(
    tmp_path: Path, run_module: Callable[..., Module], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    actions = [Action(name="RedactColumn", columns=["ssn"])]
    module = run_module(
        [asset("hr/csv", malformed_csv(tmp_path / "csv"), "csv", actions)], {"ns/app": (TOKEN, ["hr/csv"])}
    )
    client, options = module.client(), Module.options(TOKEN)
    assert client.do_get(ticket({"asset": "hr/csv", "partition": 0}), options).read_all().num_rows == 2
    with pytest.raises(flight.FlightServerError) as info:
        client.do_get(ticket({"asset": "hr/csv", "partition": 1}), options).read_all()
    assert_clean(info.value, "SourceFailed")
    assert "reading hr/csv partition 1 failed: malformed CSV data" in str(info.value)
    for value in (SECRET_SSN, "surplus-value", "dee", str(tmp_path)):
        assert value not in str(info.value)
    # The log has the parser's words, the protected column's value masked (the row is misaligned: all of it).
    assert "Expected 3 columns, got 4" in caplog.text
    assert SECRET_SSN not in caplog.text and "surplus-value" not in caplog.text


def test_a_conversion_error_masks_only_protected_values_in_the_log(
    tmp_path: Path, run_module: Callable[..., Module], caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "conv"
    directory.mkdir()
    (directory / "a.csv").write_text("id,name,ssn\n1,ann,111\n")
    (directory / "b.csv").write_text("id,name,ssn\n2,bob,not-a-number-4455\n")
    actions = [Action(name="HashColumn", columns=["ssn"], options={"keyRef": "m4d/hash-key"})]
    module = run_module([asset("hr/c", directory, "csv", actions)], {"ns/app": (TOKEN, ["hr/c"])})
    with pytest.raises(flight.FlightServerError) as info:
        module.client().do_get(ticket({"asset": "hr/c", "partition": 1}), Module.options(TOKEN)).read_all()
    assert_clean(info.value, "SourceFailed")
    assert "does not have its column's type" in str(info.value)
    assert "not-a-number-4455" not in str(info.value) and "not-a-number-4455" not in caplog.text
    assert "CSV conversion error to int64" in caplog.text


def test_a_source_that_cannot_be_opened_fails_start_up_without_data(
    tmp_path: Path, run_module: Callable[..., Module]
) -> None:
    (tmp_path / "bad.csv").write_text(f"id,name,ssn\n1,ann,{SECRET_SSN},x\n")
    with pytest.raises(M4DError) as info:
        run_module([asset("hr/bad", tmp_path / "bad.csv", "csv")], {})
    assert "malformed CSV data" in str(info.value)
    assert SECRET_SSN not in str(info.value)
