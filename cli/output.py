"""kubectl-like output: tables from printer columns, YAML/JSON, ages, and describe views."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from m4d.api.meta import Resource
from m4d.api.registry import KindInfo

# YAML lines are never folded (PyYAML folds long strings at 80 columns by default).
_YAML_WIDTH = sys.maxsize
_FILTER = re.compile(r'^\[\?\(@\.(\w+)==["\']([^"\']*)["\']\)\]$')
_STEP = re.compile(r"\.([\w-]+)|(\[[^\]]*\])")


def jsonpath(obj: Any, path: str) -> Any:
    """The subset of JSONPath printer columns use: `.a.b`, `[0]`, `[?(@.type=="Ready")]`."""
    current: Any = obj
    for m in _STEP.finditer(path):
        if current is None:
            return None
        field, bracket = m.group(1), m.group(2)
        if field is not None:
            current = current.get(field) if isinstance(current, dict) else None
        elif bracket and (f := _FILTER.match(bracket)):
            items = current if isinstance(current, list) else []
            found = [i for i in items if isinstance(i, dict) and str(i.get(f.group(1))) == f.group(2)]
            current = found[0] if found else None
        elif bracket and bracket[1:-1].isdigit():
            index = int(bracket[1:-1])
            current = current[index] if isinstance(current, list) and index < len(current) else None
    return current


def age(value: str | datetime | None, now: datetime | None = None) -> str:
    if value is None or value == "":
        return "<none>"
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cell(value: Any, column_type: str) -> str:
    if value is None or value == "":
        return "<none>"
    if column_type == "date":
        return age(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def rows(info: KindInfo, items: Sequence[Resource], wide: bool, all_namespaces: bool) -> list[list[str]]:
    """The header, then one row per item: the kind's printer columns (priority 0, or all when wide)."""
    columns = [c for c in info.columns if wide or c.priority == 0]
    with_namespace = all_namespaces and info.namespaced
    found = [[*(["NAMESPACE"] if with_namespace else []), "NAME", *(c.name.upper() for c in columns)]]
    for item in items:
        wire = item.wire()
        row = [item.metadata.namespace or ""] if with_namespace else []
        row.append(item.name)
        row.extend(cell(jsonpath(wire, c.json_path), c.type) for c in columns)
        found.append(row)
    return found


def table(info: KindInfo, items: Sequence[Resource], wide: bool, all_namespaces: bool) -> Table:
    header, *body = rows(info, items, wide, all_namespaces)
    grid = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for name in header:
        grid.add_column(name)
    for row in body:
        grid.add_row(*row)
    return grid


def aligned(row: Sequence[str], widths: Sequence[int]) -> str:
    """One plain line, columns padded to `widths` (a longer value widens its column, never cut)."""
    return "   ".join(value.ljust(width) for value, width in zip(row, widths, strict=False)).rstrip()


def dump(items: Sequence[Resource], fmt: str, single: bool) -> str:
    docs = [i.wire() for i in items]
    if fmt == "json":
        payload: Any = docs[0] if single else {"apiVersion": "v1", "kind": "List", "items": docs}
        return json.dumps(payload, indent=2, sort_keys=False)
    if single:
        return yaml.safe_dump(docs[0], sort_keys=False, width=_YAML_WIDTH)
    return "---\n".join(yaml.safe_dump(d, sort_keys=False, width=_YAML_WIDTH) for d in docs)


def conditions_table(conditions: list[dict[str, Any]]) -> Table:
    grid = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("TYPE", "STATUS", "REASON", "AGE", "MESSAGE"):
        grid.add_column(name, overflow="fold")
    for c in conditions:
        grid.add_row(
            str(c.get("type", "")),
            str(c.get("status", "")),
            str(c.get("reason", "")),
            age(c.get("lastTransitionTime")),
            str(c.get("message", "")),
        )
    return grid


def _find_conditions(node: Any, path: str = "") -> list[tuple[str, list[dict[str, Any]]]]:
    """Every `conditions` list in a status, with where it sits (e.g. assetStates.a1)."""
    found: list[tuple[str, list[dict[str, Any]]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else key
            if key == "conditions" and isinstance(value, list):
                found.append((path or "status", value))
            else:
                found.extend(_find_conditions(value, where))
    return found


def describe(console: Console, info: KindInfo, obj: Resource) -> None:
    wire = obj.wire()
    meta = wire.get("metadata", {})
    console.print(f"[bold]Name:[/]         {meta.get('name')}")
    if info.namespaced:
        console.print(f"[bold]Namespace:[/]    {meta.get('namespace')}")
    console.print(f"[bold]Kind:[/]         {info.kind} ({info.api_version})")
    for key in ("labels", "annotations"):
        values = meta.get(key) or {}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(values.items())) or "<none>"
        console.print(f"[bold]{key.capitalize() + ':':<13}[/] {shown}")
    console.print(
        f"[bold]Generation:[/]   {meta.get('generation')}   "
        f"[bold]Resource version:[/] {meta.get('resourceVersion')}   [bold]Age:[/] {age(meta.get('creationTimestamp'))}"
    )
    if meta.get("deletionTimestamp"):
        console.print(
            f"[bold red]Deleting since:[/] {meta['deletionTimestamp']} (finalizers: {meta.get('finalizers')})"
        )
    console.print("[bold]Spec:[/]")
    console.print(
        _indent(yaml.safe_dump(wire.get("spec", {}), sort_keys=False, width=_YAML_WIDTH)), markup=False, highlight=False
    )
    status = wire.get("status")
    if not status:
        console.print("[bold]Status:[/]       <none>")
        return
    rest = {k: v for k, v in status.items() if k != "conditions"}
    console.print("[bold]Status:[/]")
    if rest:
        console.print(
            _indent(yaml.safe_dump(_without_conditions(rest), sort_keys=False, width=_YAML_WIDTH)),
            markup=False,
            highlight=False,
        )
    for where, conditions in _find_conditions(status):
        console.print(f"[bold]Conditions ({where}):[/]")
        console.print(conditions_table(conditions))


def _without_conditions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_conditions(v) for k, v in node.items() if k != "conditions"}
    if isinstance(node, list):
        return [_without_conditions(v) for v in node]
    return node


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.rstrip().splitlines())
