"""Check, on the data a workload received, that each policy decision was enforced.

The demo reads as the workload (through the module, with the application's token) and compares with
the source as its owner sees it: a removed column is absent, a redacted one holds only the redaction
value, a hashed one holds digests none of which is an original value, and every row passes the filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from m4d.api.application import Decision
from m4d.modules import actions as names
from m4d.modules.predicate import compile_predicate

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Check:
    ok: bool
    message: str


def source_table(path: str, columns: list[str]) -> pa.Table:
    fmt = "csv" if path.endswith(".csv") else "parquet"
    dataset = ds.dataset(path, format=fmt)
    return dataset.to_table(columns=[c for c in columns if c in dataset.schema.names])


def verify(decisions: list[Decision], received: pa.Table, source: pa.Table) -> list[Check]:
    checks: list[Check] = []
    for decision in decisions:
        for action in decision.actions:
            for column in action.columns:
                checks.append(_column_check(action.name, column, action.options, received, source))
            if action.name == names.FILTER_ROWS:
                checks.append(_filter_check(action.options.get(names.OPTION_PREDICATE, ""), received, source))
    return checks


def _column_check(action: str, column: str, options: dict[str, str], received: pa.Table, source: pa.Table) -> Check:
    if action == names.REMOVE_COLUMN:
        absent = column not in received.column_names
        return Check(absent, f"{column}: removed" if absent else f"{column}: still present")
    if column not in received.column_names:
        return Check(False, f"{column}: missing, expected {action}")
    values = received.column(column)
    if action == names.REDACT_COLUMN:
        value = options.get(names.OPTION_VALUE, names.REDACT_DEFAULT_VALUE)
        ok = values.null_count == len(values) or bool(pc.all(pc.equal(values, value)).as_py())
        return Check(ok, f"{column}: every value is {value!r}" if ok else f"{column}: original values remain")
    if action == names.HASH_COLUMN:
        digests = [v for v in values.to_pylist() if v is not None]
        shaped = all(isinstance(v, str) and _DIGEST.match(v) for v in digests)
        originals = {str(v) for v in source.column(column).to_pylist()} if column in source.column_names else set()
        leaked = originals & set(digests)
        ok = shaped and not leaked
        return Check(ok, f"{column}: keyed digests, no original value among {len(digests)} rows")
    return Check(True, f"{column}: {action}")


def _filter_check(predicate: str, received: pa.Table, source: pa.Table) -> Check:
    try:
        expression, _ = compile_predicate(predicate, received.schema)
    except Exception as exc:  # the predicate names a column the workload does not get
        return Check(False, f"filter {predicate!r} cannot be checked on the received columns: {exc}")
    passing = ds.dataset(received).to_table(filter=expression).num_rows
    ok = passing == received.num_rows
    return Check(ok, f"filter {predicate!r}: {received.num_rows} of {source.num_rows} rows, all passing")
