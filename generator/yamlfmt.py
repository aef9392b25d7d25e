"""The one YAML format of every generated file: sorted keys, block style, no wrapping, no timestamps.

Generated files are committed and reviewed, so the same objects must always give the same bytes: keys
are sorted (dict insertion order never leaks into a diff), long strings stay on one line, and
multi-line strings (a Lua script) use literal block style so a reviewer reads them as written.

The emitter is our own, for the plain data manifests are (dicts, lists, strings, numbers, booleans,
null): its output depends on nothing but the data (not on which YAML library or version is installed),
and it is several times faster than a general-purpose emitter. Strings that YAML could read as anything
else (true, 1.0, null, 2024-01-01, ...) or that hold indicators are double-quoted; a test checks that
every dumped document loads back to exactly the data.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import yaml

_RESOLVER = yaml.resolver.Resolver()
_SAFE = r"A-Za-z0-9 _./@=+,()~$%^-"
# Plain (unquoted) scalars: no leading indicator, ':' only inside a word, no leading/trailing space.
_PLAIN = re.compile(rf"^[A-Za-z0-9_/.(][{_SAFE}]*(?::[A-Za-z0-9_./@=+,()~$%^-][{_SAFE}]*)*$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _reads_as_string(text: str) -> bool:
    """What YAML 1.1 makes of the text unquoted (true, 1.0, null, a date...) must be the text itself."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag == "tag:yaml.org,2002:str"


@lru_cache(maxsize=65536)
def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and _reads_as_string(text):
        return text
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        if "." not in mantissa:  # YAML 1.1 reads a float only with a dot in it
            mantissa += ".0"
        return mantissa + e + exponent
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"cannot write {type(value).__name__} to a generated file")


def _literal(text: str) -> bool:
    """Multi-line text a reviewer should read as is: printable ASCII lines, no trailing blanks."""
    if "\n" not in text or text.startswith((" ", "\n")) or text.endswith("\n\n"):
        return False
    return all(" " <= ch <= "~" for ch in text.replace("\n", "")) and not any(
        line.endswith(" ") for line in text.split("\n")
    )


def _literal_lines(head: str, text: str, indent: int) -> list[str]:
    chomp = "" if text.endswith("\n") else "-"
    pad = " " * indent
    body = text[:-1] if text.endswith("\n") else text
    return [f"{head}|{chomp}", *[f"{pad}{line}" if line else "" for line in body.split("\n")]]


def _nested(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def _block(value: dict[str, Any] | list[Any], indent: int) -> list[str]:
    """Lines of a non-empty mapping or sequence at `indent` (sequences under a key are not indented)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key in sorted(value):
            if not isinstance(key, str):
                raise TypeError(f"keys of generated files are strings (got {key!r})")
            item, head = value[key], f"{pad}{_string(key)}:"
            if _nested(item):
                lines.append(head)
                lines += _block(item, indent + 2 if isinstance(item, dict) else indent)
            elif isinstance(item, str) and _literal(item):
                lines += _literal_lines(head + " ", item, indent + 2)
            else:
                lines.append(f"{head} {_inline(item)}")
        return lines
    for item in value:
        if _nested(item):
            inner = _block(item, indent + 2)
            lines.append(f"{pad}- {inner[0][indent + 2 :]}")
            lines += inner[1:]
        elif isinstance(item, str) and _literal(item):
            lines += _literal_lines(f"{pad}- ", item, indent + 2)
        else:
            lines.append(f"{pad}- {_inline(item)}")
    return lines


def dump(obj: Any) -> bytes:
    """One object as a YAML document (UTF-8, ending in a newline)."""
    lines = _block(obj, 0) if _nested(obj) else [_inline(obj)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def load(data: bytes) -> Any:
    """Read back a generated file (for tests and for describing a hand-edited file)."""
    return yaml.load(data, Loader=yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)  # noqa: S506
