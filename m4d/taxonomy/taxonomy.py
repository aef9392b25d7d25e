"""The taxonomy: which connection kinds, formats, actions and app-context fields exist, and their shapes.

Every check returns `FieldError`s whose path names the field (prefixed by where the value sits, e.g.
`spec.connection.properties.bucket`) and whose message ends with the schema rule that failed, e.g.
`required (taxonomy rule #/definitions/s3/required)`, so a user knows what to fix and where it is defined.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, ValidationError

from m4d.errors import FieldError
from m4d.taxonomy.layering import Document, compose

_MEMO_SIZE = 4096


def _join(prefix: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{prefix}[{part}]"
    return f"{prefix}.{part}" if prefix else part


def _got(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Taxonomy:
    """A merged taxonomy document with validators for its definitions."""

    def __init__(self, document: Document, layers: Sequence[str] = ()) -> None:
        defs: Document = dict(document["definitions"])
        # The vocabularies are the keys of the extension points; expose them as enums so that every
        # schema referring to a kind or an action name checks membership with a plain JSON Schema rule.
        defs["ConnectionKind"] = {**defs["ConnectionKind"], "enum": self._keys(defs, "ConnectionKinds")}
        defs["ActionName"] = {**defs["ActionName"], "enum": self._keys(defs, "Actions")}
        self.document: Document = {**document, "definitions": defs}
        self.layers = tuple(layers)
        self._validators: dict[str, Draft7Validator] = {}
        self._memo: dict[tuple[str, str, str], list[FieldError]] = {}

    @staticmethod
    def _keys(defs: Document, point: str) -> list[str]:
        return sorted(defs.get(point, {}).get("properties", {}))

    @classmethod
    def load(cls, extra: Sequence[Path] = ()) -> Taxonomy:
        """The built-in layers plus the operator's (files, or directories of *.json), in order."""
        document, names = compose(extra)
        return cls(document, names)

    @property
    def connection_kinds(self) -> list[str]:
        return list(self.document["definitions"]["ConnectionKind"]["enum"])

    @property
    def formats(self) -> list[str]:
        return list(self.document["definitions"]["DataFormat"].get("enum", []))

    @property
    def actions(self) -> list[str]:
        return list(self.document["definitions"]["ActionName"]["enum"])

    # -- checks ---------------------------------------------------------------------------------

    def check(self, pointer: str, value: Any, path: str = "") -> list[FieldError]:
        """Validate `value` against the schema at `pointer` (e.g. `/definitions/Interface`).

        Answers are remembered by content: the planner checks the same modules and storage accounts on
        every reconcile, and JSON Schema validation is the expensive part of planning.
        """
        try:
            key = (pointer, path, json.dumps(value, sort_keys=True))
        except (TypeError, ValueError):
            return self._check(pointer, value, path)
        found = self._memo.get(key)
        if found is None:
            found = self._check(pointer, value, path)
            if len(self._memo) >= _MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = found
        return list(found)

    def _check(self, pointer: str, value: Any, path: str) -> list[FieldError]:
        validator = self._validator(pointer)
        errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        return [f for e in errors for f in self._field_errors(e, path, pointer)]

    def check_connection(self, value: Any, path: str = "") -> list[FieldError]:
        """The connection's shape and kind, then its properties against that kind's schema."""
        errors = self.check("/definitions/Connection", value, path)
        if errors or not isinstance(value, dict):
            return errors
        return self.check(f"/definitions/ConnectionKinds/properties/{value['kind']}", value.get("properties", {}),
                          _join(path, "properties"))  # fmt: skip

    def check_action(self, value: Any, path: str = "") -> list[FieldError]:
        errors = self.check("/definitions/Action", value, path)
        if errors or not isinstance(value, dict):
            return errors
        return self.check(f"/definitions/Actions/properties/{value['name']}", value, path)

    def check_action_name(self, value: Any, path: str = "") -> list[FieldError]:
        return self.check("/definitions/ActionName", value, path)

    def check_interface(self, value: Any, path: str = "") -> list[FieldError]:
        return self.check("/definitions/Interface", value, path)

    def check_format(self, value: Any, path: str = "") -> list[FieldError]:
        return self.check("/definitions/DataFormat", value, path)

    def check_app_info(self, value: Any, path: str = "") -> list[FieldError]:
        return self.check("/definitions/AppInfo", value, path)

    def check_tag(self, value: Any, path: str = "") -> list[FieldError]:
        return self.check("/definitions/Tag", value, path)

    # -- plumbing -------------------------------------------------------------------------------

    def _validator(self, pointer: str) -> Draft7Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            root = {"definitions": self.document["definitions"], "$ref": f"#{pointer}"}
            validator = Draft7Validator(root)
            self._validators[pointer] = validator
        return validator

    def _rule(self, error: ValidationError, pointer: str) -> str:
        """Where the failed rule is written: follow the schema path through every $ref."""
        where = self._follow(pointer)
        for part in list(error.absolute_schema_path)[:-1]:  # the last part is the failed keyword itself
            if part != "$ref":
                where = self._follow(f"{where}/{part}")
        return f"#{where}"

    def _follow(self, pointer: str) -> str:
        for _ in range(32):  # a bound, in case a layer made a cycle of bare refs
            node = self._resolve(pointer)
            ref = node.get("$ref") if isinstance(node, dict) else None
            if not (isinstance(ref, str) and ref.startswith("#")):
                break
            pointer = ref[1:]
        return pointer

    def _resolve(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.strip("/").split("/"):
            if isinstance(node, dict):
                node = node.get(part)
            elif isinstance(node, list) and part.isdigit():
                node = node[int(part)]
            else:
                return None
        return node

    def _field_errors(self, error: ValidationError, prefix: str, pointer: str) -> list[FieldError]:
        path = prefix
        for part in error.absolute_path:
            path = _join(path, part)
        instance, kind = error.instance, error.validator
        expected: Any = error.validator_value
        rule = f"(taxonomy rule {self._rule(error, pointer)}/{kind})"
        message: str
        match kind:
            case "required":
                missing = next((p for p in expected if repr(p) in error.message), "")
                path, message = _join(path, missing), "required"
            case "additionalProperties":
                allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
                extra = sorted(k for k in instance if k not in allowed) if isinstance(instance, dict) else []
                return [FieldError(_join(path, k), f"unknown field {rule}") for k in extra]
            case "enum":
                choices = ", ".join(map(str, expected)) or "nothing (the taxonomy defines no values)"
                message = f"must be one of {choices} (got {_got(instance)})"
            case "const":
                message = f"must be {_got(expected)} (got {_got(instance)})"
            case "type":
                message = f"must be of type {expected} (got {_got(instance)})"
            case "minLength" if expected == 1:
                message = "must not be empty"
            case "minItems":
                message = f"must have at least {expected} item(s)"
            case "maxProperties" if expected == 0:
                message = "takes no entries"
            case "pattern":
                message = f"must match {expected} (got {_got(instance)})"
            case _:
                message = error.message
        return [FieldError(path, f"{message} {rule}")]


@cache
def default_taxonomy() -> Taxonomy:
    """The built-in layers alone (what tests and the embedded default use unless told otherwise)."""
    return Taxonomy.load()
