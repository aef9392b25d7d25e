"""Applying many documents as one input: all of it is stored, or none of it.

Parsing and schema checks refuse bad documents before any store is asked (m4d.api.parse). What only the
store can judge — a finalizer added to an object being deleted, an object over the size limit, a stale
resourceVersion — is found by a dry run of every document first (`kubectl apply --dry-run=server`); only
when every document passes is anything written. A change made by someone else between the two passes
can still refuse a write; the report then says what was stored before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from m4d.api.meta import Resource
from m4d.api.parse import Document
from m4d.cluster.interface import Cluster
from m4d.errors import (
    ConflictError,
    FieldError,
    InvalidError,
    M4DError,
    NotFoundError,
    PermanentError,
    TemporaryError,
)

Verb = Literal["created", "configured", "unchanged"]


@dataclass(frozen=True)
class Applied:
    obj: Resource
    verb: Verb


def _current(cluster: Cluster, obj: Resource) -> Resource | None:
    try:
        return cluster.get(type(obj), obj.name, obj.namespace)
    except NotFoundError:
        return None


def _precondition(obj: Resource, current: Resource | None) -> M4DError | None:
    """A resourceVersion in the input is a precondition, as kubectl applies it."""
    wanted = obj.metadata.resource_version
    if not wanted:
        return None
    if current is None:
        return InvalidError("", [FieldError("metadata.resourceVersion", "must not be set on objects to be created")])
    if current.metadata.resource_version != wanted:
        have = current.metadata.resource_version
        return ConflictError(f"metadata.resourceVersion is {wanted}, but the stored object is at {have}")
    return None


def _lines(error: M4DError) -> list[str]:
    if isinstance(error, InvalidError):
        return [str(e) for e in error.errors] or [error.message]
    return [error.message]


def check(cluster: Cluster, pairs: list[tuple[Document, Resource]], field_manager: str) -> None:
    """Dry-run every document; raise one InvalidError naming each refused document and why."""
    problems: list[FieldError] = []
    refused = 0
    for doc, obj in pairs:
        current = _current(cluster, obj)
        error = _precondition(obj, current)
        if error is None:
            try:
                cluster.apply(obj, field_manager=field_manager, dry_run=True)
            except (PermanentError, ConflictError) as exc:  # temporary trouble is no verdict on the input
                error = exc
        if error is not None:
            refused += 1
            problems += [FieldError(doc.where, line) for line in _lines(error)]
    if problems:
        header = f"{refused} of {len(pairs)} document(s) refused by cluster {cluster.name}, nothing stored"
        raise InvalidError(f"{refused} of {len(pairs)} document(s)", problems, header=header)


def _unchanged(before: Resource, after: Resource, dry_run: bool) -> bool:
    if not dry_run:
        return after.metadata.resource_version == before.metadata.resource_version
    # A dry run may not move the resourceVersion (a real API server does not): compare the objects.
    same = [o.model_copy(update={"metadata": o.metadata.model_copy(update={"resource_version": None})}).wire()
            for o in (before, after)]  # fmt: skip
    return same[0] == same[1]


def apply_all(
    cluster: Cluster, pairs: list[tuple[Document, Resource]], field_manager: str, dry_run: bool = False
) -> list[Applied]:
    """Check every document against the store, then apply them in order (nothing, with `dry_run`)."""
    check(cluster, pairs, field_manager)
    done: list[Applied] = []
    for doc, obj in pairs:
        before = _current(cluster, obj)
        try:
            after = cluster.apply(obj, field_manager=field_manager, dry_run=dry_run)
        except M4DError as exc:
            stored = ", ".join(f"{a.obj.kind} {a.obj.name}" for a in done if a.verb != "unchanged") or "nothing"
            header = f"{doc.where} was refused after every document passed the check; stored before it: {stored}"
            if isinstance(exc, TemporaryError):  # the store's trouble, not the input's: worth running again
                raise TemporaryError(f"{header}: {exc.message}", delay=exc.delay, reason=exc.reason) from None
            raise InvalidError(doc.where, [FieldError("", line) for line in _lines(exc)], header=header) from None
        if before is None:
            verb: Verb = "created"
        else:
            verb = "unchanged" if _unchanged(before, after, dry_run) else "configured"
        done.append(Applied(after, verb))
    return done
