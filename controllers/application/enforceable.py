"""What the modules will refuse, found while planning: asset ids and policy actions they cannot use.

A module checks its configuration when it starts on the member, long after a plan was committed. The
same rules, applied here, turn such a plan into an Error condition on the asset that names the field or
the policy, and nothing is committed for it:
- a `dataSetID` the modules' asset-id rule forbids (a path, a shell command, a NUL);
- a FilterRows predicate that does not parse, and any action naming columns the catalog does not list.
"""

from __future__ import annotations

from collections.abc import Sequence

from m4d.connectors.catalog.model import AssetInfo
from m4d.connectors.policy.model import DecidedAction
from m4d.modules import actions as names
from m4d.modules.config import check_asset_id
from m4d.modules.predicate import PredicateError, columns, parse


def asset_id_problem(asset_id: str) -> str | None:
    try:
        check_asset_id(asset_id)
    except ValueError as exc:
        return str(exc)
    return None


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def action_problems(actions: Sequence[DecidedAction], asset: AssetInfo) -> list[str]:
    """Why each action a policy decided cannot be enforced on `asset` (empty: all can)."""
    known = asset.column_names()
    problems: list[str] = []
    for decided in actions:
        action = decided.action
        who = f"{action.name} of policy {decided.policy}"
        if action.name == names.FILTER_ROWS:
            predicate = action.options.get(names.OPTION_PREDICATE, "")
            try:
                used = columns(parse(predicate))
            except PredicateError as exc:
                problems.append(f"the predicate {_shown(predicate)} of {who} does not parse: {exc}")
                continue
        else:
            used = set(action.columns)
        unknown = sorted(used - set(known)) if known else []
        if unknown:
            problems.append(
                f"{who} names column(s) {', '.join(map(repr, unknown))} that asset {asset.id} does not have "
                f"(its columns: {', '.join(known)})"
            )
    return problems
