"""Source failures in two tellings: a data-free one for clients and statuses, the driver's for the log.

Drivers quote data in their errors: a CSV parser echoes the row it could not parse, a converter the
value it could not convert. Such text never reaches a client, a status or a trailer. `SourceError`
carries a short, data-free reason (`why`: what kind of failure, at most a row number) for them, and the
driver's own words (`detail`) for the module's log, where `LogScrubber` first masks the values of the
columns policy protects.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable

import pyarrow as pa

from m4d.errors import M4DError

MASK = "<masked>"


class SourceError(M4DError):
    """The store refused or failed. `str()` names the store and a data-free reason, never a value or a
    credential; `why` is the reason alone (what a client is told), `detail` the driver's text (log only)."""

    reason = "SourceError"

    def __init__(self, message: str, *, why: str | None = None, detail: str = "", temporary: bool = False) -> None:
        super().__init__(message)
        self.why = why or "the data could not be read"
        self.detail = detail
        self.temporary = temporary


def classify(error: BaseException, rows_before: int | None = None) -> tuple[str, bool]:
    """(data-free reason, temporary?) for a driver's exception; `rows_before`: rows read before it."""
    text = str(error)
    after = f" after row {rows_before:,}" if rows_before is not None else ""
    if isinstance(error, pa.ArrowInvalid):
        if "CSV parse error" in text:
            return f"malformed CSV data{after}", False
        if "CSV conversion error" in text:
            return f"a CSV value does not have its column's type{after}", False
        if "Parquet" in text or "parquet" in text:
            return "the Parquet data is corrupt or unreadable", False
        if "IPC" in text or "flatbuffer" in text.lower():
            return "the Arrow IPC data is corrupt or unreadable", False
        return f"the data could not be decoded{after}", False
    if isinstance(error, pa.ArrowException) and not isinstance(error, OSError):
        return f"the data could not be decoded{after}", False
    if isinstance(error, FileNotFoundError):
        return "a file of the asset is missing", False
    if isinstance(error, PermissionError):
        return "the store refused access", False
    if isinstance(error, OSError):
        return "the store could not be read", True
    return "the data could not be read", False


_ECHO = re.compile(r"(Expected \d+ columns, got \d+: )(.*)$", re.DOTALL)
_CONVERSION = re.compile(r"In CSV column #(\d+): (.*?)(invalid value )('.*')", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


class LogScrubber:
    """Masks the values of protected columns (and of whole rows it cannot align with columns) in
    drivers' error texts, before they are logged."""

    def __init__(self, columns: Iterable[str], protected: Iterable[str]) -> None:
        self.columns = list(columns)
        self.protected = set(protected)

    def __call__(self, text: str) -> str:
        if not self.protected:
            return text
        echo = _ECHO.search(text)
        if echo:
            return text[: echo.start(2)] + self._row(echo.group(2))
        conversion = _CONVERSION.search(text)
        if conversion:
            index = int(conversion.group(1))
            if index >= len(self.columns) or self.columns[index] in self.protected:
                return text[: conversion.start(4)] + MASK + text[conversion.end(4) :]
            return text
        return text if not _QUOTED.search(text) else _QUOTED.sub(MASK, text)

    def _row(self, row: str) -> str:
        try:
            fields = next(csv.reader([row]))
        except (csv.Error, StopIteration):
            return MASK
        if len(fields) != len(self.columns):  # misaligned: any field may be a protected value
            return ",".join(MASK for _ in fields)
        pairs = zip(self.columns, fields, strict=True)
        return ",".join(MASK if name in self.protected else value for name, value in pairs)
