"""Actions from several policies merged into the list a module applies, in a fixed, safe order.

Same action with the same options: one action over the union of columns. Columns a RemoveColumn drops
are dropped from the other column actions. Order: FilterRows first (its predicate sees the original
values), then RemoveColumn, HashColumn, RedactColumn, then any operator-defined action by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from m4d.api.common import Action
from m4d.connectors.policy.model import DecidedAction

_ORDER = {"FilterRows": 0, "RemoveColumn": 1, "HashColumn": 2, "RedactColumn": 3}
_COLUMN_ACTIONS = {"RemoveColumn", "HashColumn", "RedactColumn"}


def identity(action: Action) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    return (action.name, tuple(action.columns), tuple(sorted(action.options.items())))


def normalize(actions: Sequence[DecidedAction], column_order: Sequence[str]) -> list[DecidedAction]:
    position = {name: i for i, name in enumerate(column_order)}
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[list[str], set[str]]] = {}
    for decided in actions:
        a = decided.action
        columns, policies = merged.setdefault((a.name, tuple(sorted(a.options.items()))), ([], set()))
        columns.extend(c for c in a.columns if c not in columns)
        policies.update(p.strip() for p in decided.policy.split(","))
    removed = {c for (name, _), (cols, _) in merged.items() if name == "RemoveColumn" for c in cols}
    out: list[DecidedAction] = []
    for (name, options), (gathered, policies) in merged.items():
        columns = [c for c in gathered if c not in removed] if name in _COLUMN_ACTIONS - {"RemoveColumn"} else gathered
        if name in _COLUMN_ACTIONS and not columns:
            continue
        ordered = sorted(columns, key=lambda c: (position.get(c, len(position)), c))
        action = Action(name=name, columns=ordered, options=dict(options))
        out.append(DecidedAction(action=action, policy=", ".join(sorted(policies))))
    return sorted(out, key=lambda d: (_ORDER.get(d.action.name, len(_ORDER)), identity(d.action)))


def without(actions: Sequence[DecidedAction], done: Sequence[DecidedAction]) -> list[DecidedAction]:
    """`actions` minus what an earlier step (a copy) already applied, column by column.

    A column is covered when the same action with the same options was applied to it, or when the column
    was removed altogether; an action without columns (FilterRows) is covered by the same action.
    """
    applied: dict[tuple[str, tuple[tuple[str, str], ...]], set[str]] = {}
    for d in done:
        applied.setdefault((d.action.name, tuple(sorted(d.action.options.items()))), set()).update(d.action.columns)
    removed = applied.get(("RemoveColumn", ()), set())
    out: list[DecidedAction] = []
    for d in actions:
        key = (d.action.name, tuple(sorted(d.action.options.items())))
        if not d.action.columns:
            if key not in applied:
                out.append(d)
            continue
        left = [c for c in d.action.columns if c not in applied.get(key, set()) and c not in removed]
        if left:
            out.append(d.model_copy(update={"action": d.action.model_copy(update={"columns": left})}))
    return out
