"""Fybrik's own taxonomy schemas, to validate messages on the Fybrik connector APIs at the edge.

The files in `m4d/taxonomy/fybrik_schemas/` are Fybrik's, unchanged; they refer to each other by relative file
name (`taxonomy.json#/definitions/...`), which a registry keyed by URIs in one folder resolves.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from m4d.errors import FieldError

_BASE = "https://m4d.dev/fybrik/taxonomy/"
FILES = ("taxonomy.json", "datacatalog.json", "policymanager.json")


@cache
def _registry() -> Registry[Any]:
    folder = resources.files("m4d.taxonomy") / "fybrik_schemas"
    pairs: list[tuple[str, Resource[Any]]] = []
    for name in FILES:
        pairs.append((_BASE + name, DRAFT7.create_resource(json.loads((folder / name).read_text()))))
    registry: Registry[Any] = Registry().with_resources(pairs)
    return registry


@cache
def _validator(ref: str) -> Draft7Validator:
    return Draft7Validator({"$ref": _BASE + ref}, registry=_registry())


def check(ref: str, value: Any, path: str = "") -> list[FieldError]:
    """Validate against e.g. `datacatalog.json#/definitions/GetAssetResponse`."""
    out: list[FieldError] = []
    for error in sorted(_validator(ref).iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        where = path
        for part in error.absolute_path:
            where = f"{where}[{part}]" if isinstance(part, int) else (f"{where}.{part}" if where else str(part))
        keyword = "/".join(str(p) for p in error.absolute_schema_path if p != "$ref")
        out.append(FieldError(where, f"{error.message} (Fybrik schema {ref}/{keyword})"))
    return out
