"""What the planner chooses from: modules by capability and interface, clusters, storage accounts.

Pure helpers over the API types; no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from m4d.api.cluster import MemberCluster
from m4d.api.common import Action, Capability, Connection, DataStore, Interface
from m4d.api.meta import Condition, find_condition
from m4d.api.module import M4DModule, ModuleCapability
from m4d.api.storage import M4DStorageAccount


@dataclass(frozen=True)
class Failure:
    """A connector or input problem that decides an asset's outcome. `temporary`: worth retrying."""

    reason: str
    message: str
    temporary: bool = False


def interface_of(store: DataStore) -> Interface:
    return Interface(protocol=store.connection.kind, dataformat=store.format)


def matches(offered: Interface | None, wanted: Interface) -> bool:
    """An offered interface serves a wanted one: same protocol; formats agree where both are said."""
    if offered is None or offered.protocol != wanted.protocol:
        return False
    return offered.dataformat is None or wanted.dataformat is None or offered.dataformat == wanted.dataformat


def capability(
    module: M4DModule,
    kind: Capability,
    *,
    source: Interface | None = None,
    sink: Interface | None = None,
    api: Interface | None = None,
) -> ModuleCapability | None:
    """The module's first capability of `kind` that reads `source`, writes `sink` and serves `api`."""
    for cap in module.spec.capabilities:
        if cap.capability != kind or (api is not None and not matches(cap.api, api)):
            continue
        for io in cap.supported_interfaces:
            if source is not None and not matches(io.source, source):
                continue
            if sink is not None and not matches(io.sink, sink):
                continue
            return cap
    return None


def has_capability(module: M4DModule, kind: Capability) -> bool:
    return any(cap.capability == kind for cap in module.spec.capabilities)


def missing_actions(cap: ModuleCapability, actions: Sequence[Action]) -> list[str]:
    supported = {a.name for a in cap.actions}
    return sorted({a.name for a in actions if a.name not in supported})


def is_offline(conditions: list[Condition]) -> bool:
    ready = find_condition(conditions, "Ready")
    return ready is not None and ready.status == "False"


def cluster_offline(cluster: MemberCluster) -> bool:
    return cluster.status is not None and is_offline(cluster.status.conditions)


def module_unready(module: M4DModule) -> bool:
    return module.status is not None and is_offline(module.status.conditions)


def prefer(clusters: Sequence[MemberCluster], *regions: str | None) -> list[MemberCluster]:
    """Clusters in the first given region first, then the next, then the rest; by name within each."""
    order = [r for r in regions if r]

    def rank(c: MemberCluster) -> tuple[int, str]:
        region = c.spec.region
        return (order.index(region) if region in order else len(order), c.name)

    return sorted(clusters, key=rank)


def slug(text: str, limit: int = 40) -> str:
    """A DNS-label-friendly rendering of an asset id (with a short hash when characters were lost)."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "asset"
    if cleaned == text and len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{cleaned[: limit - 7].rstrip('-')}-{digest}"


_EXTENSIONS = {"parquet": "parquet", "csv": "csv", "json": "json", "arrow": "arrow"}


def copy_target(account: M4DStorageAccount, namespace: str, app: str, asset_id: str) -> DataStore | None:
    """Where a copy of `asset_id` for application namespace/app goes in `account` (None: kind not supported).

    The account's connection names a location prefix: a directory (file), a key prefix (s3) or a table
    name prefix (postgres); each copy gets its own place under it, named after the application and asset.
    """
    spec = account.spec
    props = dict(spec.connection.properties)
    name = f"{slug(asset_id)}.{_EXTENSIONS.get(spec.format, spec.format)}"
    match spec.connection.kind:
        case "file":
            props["path"] = f"{str(props.get('path', '')).rstrip('/')}/{namespace}/{app}/{name}"
        case "s3":
            prefix = str(props.get("objectKey", "")).strip("/")
            props["objectKey"] = "/".join(p for p in (prefix, namespace, app, name) if p)
        case "postgres":
            table = "_".join(p for p in (str(props.get("table", "")), namespace, app, slug(asset_id)) if p)
            props["table"] = re.sub(r"[^a-z0-9_]", "_", table.lower())[:63]
        case _:
            return None
    connection = Connection(kind=spec.connection.kind, properties=props)
    return DataStore(connection=connection, format=spec.format, credential_ref=spec.credential_ref)


def describe_action(action: Action) -> str:
    args = list(action.columns)
    if "predicate" in action.options:
        args.append(action.options["predicate"])
    return f"{action.name}({', '.join(args)})" if args else action.name
