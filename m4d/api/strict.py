"""Strict YAML and JSON: how every edge of the platform reads text it did not write.

Input is refused, never half-read, when it is not UTF-8; when a document is larger, deeper or expands
more aliases than the limits below; when a mapping repeats a key (kubectl's strict field validation
refuses that too, rather than keep the last value); or when it holds values JSON cannot carry (binary,
sets, NaN). Errors are `InvalidError`s naming the source, the document and the line.

The limits are those of a Kubernetes API server where it has one (a request body is at most 3 MiB, a
stored object 1.5 MiB), and tighter where Python needs it: an API server allows 10,000 levels of nesting,
Python's stack does not, and no resource of the platform nests beyond a few dozen.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.reader import ReaderError

from m4d.errors import FieldError, InvalidError

MiB = 1024 * 1024
REQUEST_BYTES = 3 * MiB  # kube-apiserver's limit on a request body
OBJECT_BYTES = 1536 * 1024  # etcd's default request limit: the largest object an API server stores
FILE_BYTES = 16 * MiB  # configuration files (catalogs, policies, templates) and connector answers
MAX_DEPTH = 100
MAX_NODES = 1_000_000  # values after alias expansion (a small alias "bomb" expands to billions)

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A line that starts or ends a document; every stretch between two of them holds at most one document.
_MARKER = re.compile(rb"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)


@dataclass(frozen=True)
class Limits:
    document_bytes: int = REQUEST_BYTES
    depth: int = MAX_DEPTH
    nodes: int = MAX_NODES


RESOURCE_LIMITS = Limits()
FILE_LIMITS = Limits(document_bytes=FILE_BYTES)


def _refuse(source: str, message: str) -> InvalidError:
    return InvalidError(source, [FieldError("", message)])


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n:,} bytes"


def _at(data: bytes, index: int) -> str:
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1) + 1
    return f"byte 0x{data[index : index + 1].hex()} at line {line}, column {column}"


def decode(data: bytes, source: str) -> str:
    """UTF-8 text (a leading byte-order mark is dropped), or an error naming the first bad byte's place.

    NUL is valid UTF-8 but never part of YAML or JSON text: it means UTF-16 (without a byte-order mark)
    or binary data, and is refused as such.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(source, f"is not UTF-8 text: {_at(data, exc.start)}") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise _refuse(source, f"is not UTF-8 text: {_at(data, nul)} (UTF-16, or binary data?)")
    return text


def read_text(path: str | Path, limit: int = FILE_BYTES, source: str | None = None) -> str:
    """A file's text, refused (with its name) when unreadable, larger than `limit` or not UTF-8."""
    where = source or str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise _refuse(where, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _refuse(where, f"is larger than {_size(limit)}")
    return decode(data, where)


# -- YAML -----------------------------------------------------------------------------------------


class _StrictLoader(_LOADER):  # type: ignore[misc]
    """The C-accelerated safe loader, refusing duplicate keys and keeping timestamps as text."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[str, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, found {type(node).__name__}", node.start_mark)
        seen: dict[str, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = _json_key(self.construct_object(key_node), key_node)
            if key in seen:
                first = seen[key].start_mark
                problem = f"duplicate key {key!r} (first at line {first.line + 1})"
                raise ConstructorError(None, None, problem, key_node.start_mark)
            seen[key] = key_node
        self.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            mapping[_json_key(self.construct_object(key_node, deep=deep), key_node)] = self.construct_object(
                value_node, deep=deep
            )
        return mapping

    def construct_yaml_timestamp(self, node: Node) -> str:
        # As Kubernetes reads YAML: a date is text until a schema says otherwise.
        return str(self.construct_scalar(node))


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_yaml_timestamp)


def _json_key(key: Any, node: Node) -> str:
    """Mapping keys become strings as Kubernetes converts them (`1:` is "1", `true:` is "true")."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    raise ConstructorError(None, None, f"a mapping key must be text, not {_kind(key)}", node.start_mark)


def _kind(value: Any) -> str:
    names = {type(None): "null", float: "a number", list: "a list", dict: "a mapping", bytes: "binary data",
             set: "a set", tuple: "an ordered mapping"}  # fmt: skip
    return names.get(type(value), type(value).__name__)


def _measure(root: Node, limits: Limits) -> str | None:
    """Why a node graph with aliases is too deep or too large once they are expanded (None: it is fine)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > limits.depth:
            return f"is nested deeper than {limits.depth} levels (line {node.start_mark.line + 1})"
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > limits.nodes:
                return f"expands to more than {limits.nodes:,} values through its aliases"
            sizes[id(node)] = total
            continue
        if id(node) in sizes:
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
    return None


def _check_values(value: Any, where: str, limits: Limits) -> str | None:
    """What in a constructed value is too deep or cannot be carried by JSON (None: nothing)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.depth:
            return f"{where} is nested deeper than {limits.depth} levels"
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{where}: {item} is not a number JSON can hold"
        elif not isinstance(item, str | int | float | bool) and item is not None:
            return f"{where}: {_kind(item)} cannot be stored (only text, numbers, lists, mappings)"
    return None


def _check_spans(data: bytes, source: str, limit: int) -> None:
    """Refuse a document larger than `limit` before parsing it (a huge document must not take minutes)."""
    if len(data) <= limit:
        return
    starts = [0, *(m.start() for m in _MARKER.finditer(data)), len(data)]
    for begin, end in itertools.pairwise(starts):
        if end - begin > limit:
            line = data.count(b"\n", 0, begin) + 1
            raise _refuse(source, f"the document at line {line} is larger than {_size(limit)}")


@dataclass(frozen=True)
class Loaded:
    body: Any
    line: int  # where the document starts (1-based)


def _problem(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"not valid YAML at line {line}, column {column}: control character U+{char:04X} is not allowed"
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc)
    return f"not valid YAML{where}: {problem}"


def yaml_documents(text: str, source: str, limits: Limits = RESOURCE_LIMITS) -> Iterator[Loaded]:
    """Every document of a YAML stream (empty ones included, as None), each checked before it is built."""
    _check_spans(text.encode("utf-8", "surrogatepass"), source, limits.document_bytes)
    aliased = "*" in text  # without aliases, a document's size bounds what it expands to
    loader = _StrictLoader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is None:
                continue
            too_much = _measure(node, limits) if aliased else None
            if too_much:
                raise _refuse(source, f"document {index} {too_much}")
            body = loader.construct_document(node)
            bad = _check_values(body, f"document {index}", limits)
            if bad:
                raise _refuse(source, bad)
            yield Loaded(body, node.start_mark.line + 1)
    except yaml.YAMLError as exc:
        raise _refuse(source, _problem(exc, text)) from None
    finally:
        loader.dispose()


def load_yaml(text: str, source: str, limits: Limits = FILE_LIMITS) -> Any:
    """The one document of a YAML file (None when it is empty)."""
    docs = [d for d in yaml_documents(text, source, limits) if d.body is not None]
    if len(docs) > 1:
        raise _refuse(source, f"holds {len(docs)} YAML documents; one is expected (line {docs[1].line})")
    return docs[0].body if docs else None


def load_yaml_file(path: str | Path, limits: Limits = FILE_LIMITS, source: str | None = None) -> Any:
    return load_yaml(read_text(path, limits.document_bytes, source), source or str(path), limits)


# -- JSON -----------------------------------------------------------------------------------------


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_no_constant)


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def json_values(text: str, source: str, limits: Limits = FILE_LIMITS) -> Iterator[Loaded]:
    """The JSON values of a text holding one or more of them (as `kubectl apply` reads a .json file)."""
    _check_spans(text.encode("utf-8", "surrogatepass"), source, limits.document_bytes)
    position, index = 0, 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            return
        line = text.count("\n", 0, position) + 1
        index += 1
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise _refuse(source, f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        except ValueError as exc:  # duplicate keys, NaN, Infinity
            raise _refuse(source, f"not valid JSON (value {index}, line {line}): {exc}") from None
        except RecursionError:
            raise _refuse(source, f"value {index} (line {line}) is nested deeper than {limits.depth} levels") from None
        if _depth(value) > limits.depth:
            raise _refuse(source, f"value {index} (line {line}) is nested deeper than {limits.depth} levels")
        yield Loaded(value, line)


def load_json(data: bytes | str, source: str, limits: Limits = FILE_LIMITS) -> Any:
    """The one JSON value of `data` (bytes must be UTF-8)."""
    if isinstance(data, bytes):
        if len(data) > limits.document_bytes:
            raise _refuse(source, f"is larger than {_size(limits.document_bytes)}")
        data = decode(data, source)
    values = list(json_values(data, source, limits))
    if len(values) != 1:
        raise _refuse(
            source, "holds no JSON value" if not values else f"holds {len(values)} JSON values; one is expected"
        )
    return values[0].body


def load_json_file(path: str | Path, limits: Limits = FILE_LIMITS, source: str | None = None) -> Any:
    return load_json(read_text(path, limits.document_bytes, source), source or str(path), limits)
