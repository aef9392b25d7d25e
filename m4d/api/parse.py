"""Parse at the edge: YAML documents → validated, typed resources, with errors that name the field."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from m4d.api.meta import Resource
from m4d.api.registry import UnknownKindError, kind_for_object
from m4d.api.schema import validate_object
from m4d.api.strict import RESOURCE_LIMITS, decode, json_values, read_text, yaml_documents
from m4d.errors import FieldError, InvalidError


@dataclass(frozen=True)
class Document:
    source: str  # file name, or "-" for standard input
    index: int  # 1-based position in a multi-document stream
    body: Any

    @property
    def where(self) -> str:
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        kind = self.body.get("kind") if isinstance(self.body, dict) else None
        label = f" ({kind} {name})" if kind and name else (f" ({kind})" if kind else "")
        return f"{self.source}, document {self.index}{label}"


# What `m4d apply` reads from a directory, as kubectl does.
SUFFIXES = (".yaml", ".yml", ".json")
# An input file larger than this is refused before it is parsed (each document must fit in 3 MiB anyway).
INPUT_BYTES = 64 * 1024 * 1024


def load_file(path: Path, source: str | None = None) -> list[Document]:
    """The documents of one file: UTF-8, YAML or (for `.json` files) a stream of JSON values."""
    where = source or str(path)
    text = read_text(path, INPUT_BYTES, where)
    return load_documents(text, where, json=path.suffix == ".json")


def load_stream(data: bytes, source: str) -> list[Document]:
    """Documents from standard input: JSON when the first character says so (as kubectl guesses), else YAML."""
    if len(data) > INPUT_BYTES:
        raise InvalidError(source, [FieldError("", f"is larger than {INPUT_BYTES // (1024 * 1024)} MiB")])
    text = decode(data, source)
    return load_documents(text, source, json=text.lstrip().startswith("{"))


def load_documents(text: str, source: str, *, json: bool = False) -> list[Document]:
    """Split a YAML stream (or a stream of JSON values), skipping empty documents.

    Parsing is strict (`m4d.api.strict`): a syntax error, a duplicate key, a document over the API
    server's request limit, nesting too deep or runaway aliases refuse the whole input, naming the line.
    """
    loaded = json_values(text, source, RESOURCE_LIMITS) if json else yaml_documents(text, source)
    bodies = [d.body for d in loaded if d.body is not None]
    return [Document(source, i, body) for i, body in enumerate(bodies, start=1)]


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before", "function-wrap") or "[" in str(part):
            continue  # pydantic's validator bookkeeping, not a field
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    match kind:
        case "missing":
            return "required"
        case "extra_forbidden":
            return "unknown field"
        case "literal_error":
            allowed = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
            return f"must be one of {allowed} (got {shown})"
        case "string_too_short" if ctx.get("min_length") == 1:
            return "must not be empty"
        case "too_short":
            return f"must have at least {ctx.get('min_length')} item(s)"
        case "too_long":
            return f"must have at most {ctx.get('max_length')} items"
        case "string_type" | "int_type" | "bool_type" | "dict_type" | "list_type" | "model_type" | "float_type":
            what = {"string_type": "a string", "int_type": "an integer", "bool_type": "true or false",
                    "dict_type": "an object", "model_type": "an object", "list_type": "a list",
                    "float_type": "a number"}[kind]  # fmt: skip
            return f"must be {what} (got {shown})"
        case "value_error":
            return str(error["msg"]).removeprefix("Value error, ")
    return str(error["msg"])[0].lower() + str(error["msg"])[1:]


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [FieldError(_path(tuple(e["loc"])), _message(e)) for e in exc.errors()]


def parse_document(doc: Document, default_namespace: str | None = None, *, applying: bool = False) -> Resource:
    """Validate one document against its kind's schema, then its model; raise InvalidError naming fields.

    `applying`: the document is to be applied, which needs a name (kubectl refuses generateName there).
    """
    body = doc.body
    if not isinstance(body, dict):
        raise InvalidError(doc.where, [FieldError("", "a resource must be a mapping with apiVersion and kind")])
    meta = body.get("metadata")
    if applying and isinstance(meta, dict) and meta.get("generateName") and not meta.get("name"):
        problem = "cannot be used with apply: an applied object needs metadata.name"
        raise InvalidError(doc.where, [FieldError("metadata.generateName", problem)])
    try:
        info = kind_for_object(str(body.get("apiVersion")), str(body.get("kind")))
    except UnknownKindError as exc:
        raise InvalidError(doc.where, [FieldError("kind", str(exc))]) from None
    body = dict(body)
    meta = dict(body.get("metadata") or {}) if isinstance(body.get("metadata"), dict) else body.get("metadata")
    if isinstance(meta, dict):
        if info.namespaced and not meta.get("namespace") and default_namespace:
            meta["namespace"] = default_namespace
        if not info.namespaced:
            meta.pop("namespace", None)
        body["metadata"] = meta
    checked = validate_object(info, body, doc.where)
    try:
        return info.model.model_validate(checked)
    except ValidationError as exc:
        raise InvalidError(doc.where, field_errors(exc)) from None


def parse_documents(
    docs: list[Document], default_namespace: str | None = None, *, applying: bool = False
) -> list[Resource]:
    """Parse every document; report the errors of all of them together, so one run shows every problem."""
    parsed: list[Resource] = []
    problems: list[InvalidError] = []
    for doc in docs:
        try:
            parsed.append(parse_document(doc, default_namespace, applying=applying))
        except InvalidError as exc:
            problems.append(exc)
    if problems:
        errors = [
            FieldError(f"{p.what}: {e.path}" if e.path else p.what, e.message) for p in problems for e in p.errors
        ]
        header = f"{len(problems)} of {len(docs)} document(s) invalid, nothing stored"
        raise InvalidError(f"{len(problems)} of {len(docs)} document(s)", errors, header=header)
    return parsed
