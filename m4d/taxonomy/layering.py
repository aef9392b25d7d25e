"""Taxonomy layers: JSON Schema documents merged in order into one taxonomy.

The built-in layers (`m4d/taxonomy/layers/*.json`) come first, then any an operator adds. Merging is a
deep merge of `definitions`: objects merge key by key, `enum` and `required` lists are unioned (so a layer
can add a format or a connection kind but not take one away), anything else from a later layer wins.

A layer in Fybrik's form (its `Connection` has a `name` property and one property per connection kind,
as in Fybrik's compiled `taxonomy.json`) is translated first: each kind becomes an entry of
`ConnectionKinds` with its properties renamed from snake_case to camelCase, and a `DataFormat` enum is
kept. Other Fybrik definitions are looser than ours (e.g. `AppInfo` allows anything) and are ignored.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from m4d.api.strict import load_json_file
from m4d.errors import FieldError, InvalidError

Document = dict[str, Any]

_UNION_KEYS = ("enum", "required")


def merge(base: Any, layer: Any, key: str | None = None) -> Any:
    """`layer` laid over `base` (neither is modified)."""
    if isinstance(base, dict) and isinstance(layer, dict):
        out = dict(base)
        for k, v in layer.items():
            out[k] = merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    if key in _UNION_KEYS and isinstance(base, list) and isinstance(layer, list):
        return [*base, *(v for v in layer if v not in base)]
    return copy.deepcopy(layer)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _camel_schema(schema: Document) -> Document:
    out = copy.deepcopy(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {camel(k): v for k, v in out["properties"].items()}
    if isinstance(out.get("required"), list):
        out["required"] = [camel(k) for k in out["required"]]
    return out


def is_fybrik_layer(doc: Document) -> bool:
    connection = doc.get("definitions", {}).get("Connection", {})
    return "name" in connection.get("properties", {})


def from_fybrik(doc: Document) -> Document:
    """Our form of a Fybrik taxonomy layer: its connection kinds and data formats."""
    defs: Document = doc.get("definitions", {})
    kinds: Document = {}
    out_defs: Document = {"ConnectionKinds": {"properties": kinds}}
    for kind, ref in defs["Connection"]["properties"].items():
        if kind == "name":
            continue
        target = ref.get("$ref", "") if isinstance(ref, dict) else ""
        schema = defs.get(target.rsplit("/", 1)[-1]) if target.startswith("#/definitions/") else ref
        if not isinstance(schema, dict):
            continue
        out_defs[kind] = _camel_schema(schema)
        kinds[kind] = {"$ref": f"#/definitions/{kind}"}
    formats = defs.get("DataFormat", {}).get("enum")
    if formats:
        out_defs["DataFormat"] = {"enum": list(formats)}
    return {"title": doc.get("title", "fybrik layer"), "definitions": out_defs}


def builtin_layers() -> list[tuple[str, Document]]:
    folder = resources.files("m4d.taxonomy") / "layers"
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))
    return [(f"m4d/taxonomy/layers/{n}", json.loads((folder / n).read_text())) for n in names]


def read_layer(path: Path) -> Document:
    what = f"taxonomy layer {path}"
    doc = load_json_file(path, source=what)  # UTF-8, strict JSON, size and depth
    if not isinstance(doc, dict) or not isinstance(doc.get("definitions"), dict):
        raise InvalidError(what, [FieldError("definitions", "required (an object)")])
    _check_schema(doc, what)
    return from_fybrik(doc) if is_fybrik_layer(doc) else doc


def _check_schema(doc: Document, what: str) -> None:
    """A layer must be a JSON Schema whose definitions are objects, or nothing can be checked against it."""
    errors = [
        FieldError(f"definitions.{name}", "must be an object (a JSON Schema)")
        for name, schema in doc["definitions"].items()
        if not isinstance(schema, dict)
    ]
    if not errors:
        problem = best_match(Draft7Validator(Draft7Validator.META_SCHEMA).iter_errors(doc))
        if problem is not None:
            at = ".".join(str(p) for p in problem.absolute_path)
            errors.append(FieldError(at, f"not a valid JSON Schema: {problem.message[:200]}"))
    if errors:
        raise InvalidError(what, errors)


def _dangling_refs(doc: Document) -> list[FieldError]:
    """Every `$ref` that does not name a definition (the taxonomy would fail on first use, not at load)."""
    defs = doc["definitions"]
    errors: list[FieldError] = []
    stack: list[tuple[Any, str]] = [(defs, "definitions")]
    while stack:
        node, at = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.removeprefix("#/definitions/")
                if ref == name or "/" in name or name not in defs:
                    errors.append(FieldError(f"{at}.$ref", f"{ref!r} names no definition of the taxonomy"))
            stack.extend((v, f"{at}.{k}") for k, v in node.items() if k != "$ref")
        elif isinstance(node, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(node))
    return errors


def layer_files(paths: Iterable[Path]) -> list[Path]:
    """Files in the order they are laid: each path as given, a directory's *.json sorted by name."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(path.glob("*.json")))
        elif path.is_file():
            out.append(path)
        else:
            raise InvalidError(f"taxonomy layer {path}", [FieldError("", "no such file or directory")])
    return out


def compose(extra: Sequence[Path] = ()) -> tuple[Document, list[str]]:
    """The merged taxonomy document and the names of the layers it was made of."""
    doc: Document = {"definitions": {}}
    names: list[str] = []
    for name, layer in builtin_layers():
        doc = merge(doc, {"definitions": layer["definitions"]})
        names.append(name)
    for path in layer_files(extra):
        doc = merge(doc, {"definitions": read_layer(path)["definitions"]})
        dangling = _dangling_refs(doc)
        if dangling:
            raise InvalidError(f"taxonomy layer {path}", dangling)
        names.append(str(path))
    return doc, names
