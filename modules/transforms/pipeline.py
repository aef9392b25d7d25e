"""Build the transforms an asset's actions call for, check them against its schema, and run them in order.

Everything that can be wrong with an action (unknown name, unknown column, bad option, a predicate that
does not parse, a hash key that cannot be resolved) is raised here, when a module starts, as one
InvalidError naming every problem, never mid-stream.

Order: filters first (on the source values), then hashing and redaction, then removal. When several
actions name one column the strictest wins: RemoveColumn over RedactColumn over HashColumn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa

from m4d.api.common import Action
from m4d.errors import FieldError, InvalidError, M4DError
from m4d.modules import actions as names
from m4d.modules.keyed import KeyedHasher, hasher
from m4d.modules.transforms.base import ColumnTransform, Transform
from m4d.modules.transforms.columns import RedactColumns, RemoveColumns
from m4d.modules.transforms.compact import compact
from m4d.modules.transforms.filtering import FilterRows
from m4d.modules.transforms.hashing import HashColumns

# Resolves a HashColumn keyRef to the key bytes (through the credential store); raises M4DError.
KeyResolver = Callable[[str], bytes]


class ColumnRefused(M4DError):
    """A client asked for a column policy removed, or one the asset does not have."""

    reason = "ColumnRefused"


@dataclass(frozen=True)
class Pipeline:
    """The transforms of one asset over its source schema."""

    source_schema: pa.Schema
    transforms: tuple[Transform, ...]
    removed: frozenset[str]

    @property
    def output_schema(self) -> pa.Schema:
        schema = self.source_schema
        for t in self.transforms:
            schema = t.output_schema(schema)
        return schema

    @property
    def actions(self) -> list[str]:
        return [t.action for t in self.transforms]

    @property
    def protected(self) -> frozenset[str]:
        """Columns whose values policy does not let out as they are (removed, redacted, hashed)."""
        return frozenset().union(*(t.columns for t in self.transforms if isinstance(t, ColumnTransform)))

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        for t in self.transforms:
            batch = t.apply(batch)
        return batch

    def run(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The transformed batches, compacted (`compact`): what is written holds nothing else."""
        for batch in batches:
            out = self.apply(batch)
            if out.num_rows:
                yield compact(out)

    def project(self, columns: Sequence[str] | None) -> Projection:
        """What to read and what comes out when a client asks for `columns` (None: all it may see)."""
        output = self.output_schema
        if columns is None:
            wanted = list(output.names)
        else:
            wanted = list(dict.fromkeys(columns))
            for name in wanted:
                if name in self.removed:
                    raise ColumnRefused(f"column {name!r} was removed by policy ({names.REMOVE_COLUMN})")
                if output.get_field_index(name) < 0:
                    raise ColumnRefused(f"the asset has no column {name!r}; its columns are {output.names}")
        needed = set(wanted).union(*(t.reads() for t in self.transforms))
        # Columns whose values policy throws away (redacted) are not read: no decoding, and the values
        # never reach the module's memory. Some column is always read, for the batches' row counts.
        throwaway = set().union(*(t.replaces() for t in self.transforms))
        replaced = set(wanted).intersection(throwaway) - set().union(*(t.reads() for t in self.transforms))
        read = [n for n in self.source_schema.names if n in needed and n not in replaced]
        if not read and wanted:
            hidden = throwaway | self.removed
            read = [_row_counter(self.source_schema, hidden) or next(n for n in wanted if n in replaced)]
        unread = [self.source_schema.field(n) for n in self.source_schema.names if n in needed and n not in read]
        source = pa.schema([self.source_schema.field(n) for n in read], metadata=self.source_schema.metadata)
        transforms = tuple(t.without_reading([f for f in unread if f.name in t.replaces()]) for t in self.transforms)
        return Projection(read, Pipeline(source, transforms, self.removed), wanted)


@dataclass(frozen=True)
class Projection:
    """Read `read` from the source, run `pipeline`, send `columns` in the order asked for."""

    read: list[str]
    pipeline: Pipeline
    columns: list[str]

    @property
    def schema(self) -> pa.Schema:
        out = self.pipeline.output_schema
        return pa.schema([out.field(n) for n in self.columns], metadata=out.metadata)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        out = self.pipeline.apply(batch)
        if out.schema.names != self.columns:
            out = out.select(self.columns)
        return out

    def run(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The batches to send, compacted (`compact`): no byte of a row or value policy keeps back."""
        for batch in batches:
            out = self.apply(batch)
            if out.num_rows:
                yield compact(out)


def _row_counter(schema: pa.Schema, avoid: set[str] | frozenset[str]) -> str | None:
    """The cheapest column to read only for its row count: fixed-width if any, never one policy hides."""
    allowed = [f for f in schema if f.name not in avoid]
    candidates = [f for f in allowed if pa.types.is_primitive(f.type)] or allowed
    return candidates[0].name if candidates else None


def build(actions: Sequence[Action], schema: pa.Schema, keys: KeyResolver, what: str = "asset") -> Pipeline:
    """The pipeline for `actions` on data of `schema`; InvalidError naming every problem found."""
    errors: list[FieldError] = []
    filters: list[Transform] = []
    redact: dict[str, str] = {}
    hashed: dict[str, KeyedHasher] = {}
    removed: set[str] = set()
    for i, action in enumerate(actions):
        path = f"actions[{i}]"
        allowed = names.ACTION_OPTIONS.get(action.name)
        if allowed is None:
            errors.append(FieldError(f"{path}.name", f"unknown action {action.name!r}; known: {names.ALL_ACTIONS}"))
            continue
        extra = sorted(set(action.options) - allowed)
        if extra:
            errors.append(FieldError(f"{path}.options", f"{action.name} takes no option(s) {extra}"))
        if action.name != names.FILTER_ROWS:
            if not action.columns:
                errors.append(FieldError(f"{path}.columns", f"{action.name} needs at least one column"))
            for name in action.columns:
                if schema.get_field_index(name) < 0:
                    errors.append(FieldError(f"{path}.columns", f"no column {name!r}; the columns are {schema.names}"))
        try:
            _collect(action, schema, keys, filters, redact, hashed, removed)
        except M4DError as error:
            errors.append(FieldError(path, str(error)))
    if errors:
        raise InvalidError(f"the policy for {what}", errors)
    transforms: list[Transform] = list(filters)
    # Strictest wins: a removed column is neither hashed nor redacted, a redacted one not hashed.
    by_key: dict[tuple[str, int], list[str]] = {}
    keyed: dict[int, KeyedHasher] = {}
    for column, one in hashed.items():
        if column not in removed and column not in redact:
            by_key.setdefault(("hash", id(one)), []).append(column)
            keyed[id(one)] = one
    transforms += [HashColumns(cols, keyed[k]) for (_, k), cols in by_key.items()]
    by_value: dict[str, list[str]] = {}
    for column, value in redact.items():
        if column not in removed:
            by_value.setdefault(value, []).append(column)
    transforms += [RedactColumns(cols, value) for value, cols in by_value.items()]
    if removed:
        transforms.append(RemoveColumns(sorted(removed)))
    return Pipeline(schema, tuple(transforms), frozenset(removed))


def _collect(
    action: Action,
    schema: pa.Schema,
    keys: KeyResolver,
    filters: list[Transform],
    redact: dict[str, str],
    hashed: dict[str, KeyedHasher],
    removed: set[str],
) -> None:
    opts = action.options
    if action.name == names.FILTER_ROWS:
        predicate = opts.get(names.OPTION_PREDICATE)
        if not predicate:
            raise InvalidError("FilterRows", [FieldError("options.predicate", "is required")])
        filters.append(FilterRows(predicate, schema))
    elif action.name == names.REDACT_COLUMN:
        for column in action.columns:
            redact[column] = opts.get(names.OPTION_VALUE, names.REDACT_DEFAULT_VALUE)
    elif action.name == names.REMOVE_COLUMN:
        removed.update(action.columns)
    elif action.name == names.HASH_COLUMN:
        algorithm = opts.get(names.OPTION_ALGORITHM, names.HASH_DEFAULT_ALGORITHM)
        if algorithm not in names.HASH_ALGORITHMS:
            raise InvalidError(
                "HashColumn", [FieldError("options.algorithm", f"must be one of {names.HASH_ALGORITHMS}")]
            )
        ref = opts.get(names.OPTION_KEY_REF)
        if not ref:
            raise InvalidError("HashColumn", [FieldError("options.keyRef", "is required (the key's credential)")])
        keyed = hasher(algorithm, keys(ref))
        for column in action.columns:
            hashed[column] = keyed
