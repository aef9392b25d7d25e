"""Validation of raw objects against their CRD's structural schema, as the API server does it.

The embedded store runs every write through this, so an object it accepts is one a real API server
accepts too (a differential test keeps the two in step). Like the server it prunes nulls, applies
defaults and, with strict field validation, rejects unknown fields. Messages name the field.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from functools import cache
from typing import Any

from m4d.api.crd import Schema, openapi_schema
from m4d.api.meta_validation import check_metadata
from m4d.api.registry import KindInfo
from m4d.errors import FieldError, InvalidError

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "true or false", "object": "an object", "array": "a list"}  # fmt: skip


@cache
def _schema(info: KindInfo) -> Schema:
    return openapi_schema(info)


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 60 else text[:57] + "..."


def _type_ok(kind: str, value: Any) -> bool:
    match kind:
        case "string":
            return isinstance(value, str)
        case "integer":
            # JSON has one number type: the API server takes 9000.0 for an integer (and stores 9000).
            whole = isinstance(value, float) and value.is_integer()
            return whole or (isinstance(value, int) and not isinstance(value, bool))
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "boolean":
            return isinstance(value, bool)
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
    return True


def _check(schema: Schema, value: Any, path: str, errors: list[FieldError]) -> Any:
    """Validate `value`; return it with nulls pruned and defaults applied."""
    if schema.get("x-kubernetes-preserve-unknown-fields") and "type" not in schema:
        return value
    kind = schema.get("type")
    if kind and not _type_ok(kind, value):
        errors.append(FieldError(path, f"must be {_TYPE_NAMES[kind]} (got {_describe(value)})"))
        return value
    if kind == "integer" and isinstance(value, float):
        value = int(value)
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(str(v) for v in schema["enum"])
        errors.append(FieldError(path, f"must be one of {allowed} (got {_describe(value)})"))
    if isinstance(value, str):
        _check_string(schema, value, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(FieldError(path, f"must be at least {schema['minimum']} (got {value})"))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(FieldError(path, f"must be at most {schema['maximum']} (got {value})"))
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(FieldError(path, f"must have at least {schema['minItems']} item(s)"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(FieldError(path, f"must have at most {schema['maxItems']} items (got {len(value)})"))
        items = schema.get("items", {})
        return [_check(items, v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
    elif isinstance(value, dict):
        return _check_object(schema, value, path, errors)
    return value


def _check_string(schema: Schema, value: str, path: str, errors: list[FieldError]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(FieldError(path, "must not be empty" if schema["minLength"] == 1
                                 else f"must be at least {schema['minLength']} characters"))  # fmt: skip
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(FieldError(path, f"must be at most {schema['maxLength']} characters (got {len(value)})"))
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(FieldError(path, f"must match {schema['pattern']} (got {_describe(value)})"))
    if schema.get("format") == "date-time":
        try:
            datetime.fromisoformat(value)
        except ValueError:
            errors.append(FieldError(path, f"must be an RFC 3339 date-time (got {_describe(value)})"))


def _check_object(schema: Schema, value: dict[str, Any], path: str, errors: list[FieldError]) -> dict[str, Any]:
    value = {k: v for k, v in value.items() if v is not None}
    props: dict[str, Schema] | None = schema.get("properties")
    if props is not None:
        for key in value:
            if key not in props:
                errors.append(FieldError(_child(path, key), "unknown field"))
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        for key in schema.get("required", []):
            if key not in value:
                errors.append(FieldError(_child(path, key), "required"))
        return {k: _check(props[k], v, _child(path, k), errors) if k in props else v for k, v in value.items()}
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return {k: _check(extra, v, f"{path}[{k}]", errors) for k, v in value.items()}
    return value


def validate_object(info: KindInfo, obj: dict[str, Any], what: str | None = None) -> dict[str, Any]:
    """Return the object as it would be stored (nulls pruned, defaults applied), or raise InvalidError."""
    errors: list[FieldError] = []
    if obj.get("apiVersion") != info.api_version:
        errors.append(FieldError("apiVersion", f"must be {info.api_version} (got {_describe(obj.get('apiVersion'))})"))
    if obj.get("kind") != info.kind:
        errors.append(FieldError("kind", f"must be {info.kind} (got {_describe(obj.get('kind'))})"))
    check_metadata(obj.get("metadata"), info.namespaced, errors)
    body = {k: v for k, v in obj.items() if k != "metadata"}
    checked = _check(_schema(info), {**body, "metadata": {}}, "", errors)
    if errors:
        name = (obj.get("metadata") or {}).get("name") if isinstance(obj.get("metadata"), dict) else None
        raise InvalidError(what or f"{info.kind} {name or '(unnamed)'}", errors)
    checked["metadata"] = obj["metadata"]
    return dict(checked)


def validate_unchanged_spec(info: KindInfo, obj: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any] | None:
    """`obj` if all but its metadata (and status) equals `stored`, an object this store accepted, and its
    metadata is valid; None if anything else differs (validate the whole object then). A finalizer or a
    label written to an object does not check its whole spec again."""
    same = ("apiVersion", "kind", "metadata", "status")
    if obj.get("apiVersion") != info.api_version or obj.get("kind") != info.kind:
        return None
    if {k: v for k, v in obj.items() if k not in same} != {k: v for k, v in stored.items() if k not in same}:
        return None
    errors: list[FieldError] = []
    check_metadata(obj.get("metadata"), info.namespaced, errors)
    if errors:
        raise InvalidError(f"{info.kind} {obj['metadata'].get('name') or '(unnamed)'}", errors)
    return obj


def validate_status(info: KindInfo, stored: dict[str, Any], status: Any, what: str) -> dict[str, Any]:
    """`stored` (an object this store accepted) with `status` in place of its own: only the status is
    checked (nothing else changed), against the same schema as `validate_object`; or InvalidError."""
    errors: list[FieldError] = []
    sub: Schema | None = (_schema(info).get("properties") or {}).get("status")
    body = {k: v for k, v in stored.items() if k != "status"}
    if sub is None:
        if status is not None:
            errors.append(FieldError("status", "unknown field"))
    elif status is not None:
        body["status"] = _check(sub, status, "status", errors)
    elif "default" in sub:
        body["status"] = copy.deepcopy(sub["default"])
    if errors:
        raise InvalidError(what, errors)
    return body
