"""The one YAML format of every generated file: sorted keys, block style, no wrapping, no timestamps.

Generated files are committed and reviewed, so the same objects must always give the same bytes:
keys are sorted (dict insertion order never leaks into a diff), long strings stay on one line, and
multi-line strings (a Lua script) use literal block style so a reviewer reads them as written.
"""

from __future__ import annotations

from typing import Any

import yaml

_WIDTH = 4096  # wide enough that no value is folded: a change to one field is a one-line diff


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as kubectl and Argo CD print manifests."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _represent_str)


def dump(obj: Any) -> bytes:
    """One object as a YAML document (UTF-8, ending in a newline)."""
    text = yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=_WIDTH,
        indent=2,
    )
    return text.encode("utf-8")


def load(data: bytes) -> Any:
    """Read back a generated file (for tests and for describing a hand-edited file)."""
    return yaml.load(data, Loader=yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)  # noqa: S506
