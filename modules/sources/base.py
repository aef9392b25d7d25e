"""What a module reads from: a schema known before any data, partitions to read in parallel, batches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from m4d.modules.sources.failures import SourceError

__all__ = ["Partition", "Source", "SourceError"]


@dataclass(frozen=True)
class Partition:
    """A slice of an asset one reader can stream alone: a file, or a range of its row groups / batches."""

    index: int
    path: str  # file path or table name, for messages; never sent to clients
    first: int = 0  # first row group / record batch
    count: int | None = None  # None: to the end
    rows: int | None = None  # known row count, for progress and flight info


class Source(ABC):
    """Data of one asset. `schema` and `partitions()` are known at start-up; `read` streams one partition.

    `schema` is what the module serves: dictionary-encoded and view columns as their plain types
    (`transforms.compact.plain_schema`), and `read` yields batches of it: a dictionary holds the values of
    every row, so it could carry rows a filter excludes.
    """

    schema: pa.Schema

    @abstractmethod
    def partitions(self) -> list[Partition]: ...

    @abstractmethod
    def read(self, partition: Partition, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
        """Batches of `columns` (in schema order) with memory bounded by one batch and the reader's buffer."""

    def total_rows(self) -> int | None:
        counts = [p.rows for p in self.partitions()]
        return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)

    def close(self) -> None:
        """Release connections."""
