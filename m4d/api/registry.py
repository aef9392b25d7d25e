"""The kinds the platform serves, with what a CRD and a command line need to know about each."""

from __future__ import annotations

from dataclasses import dataclass, field

from m4d.api.application import M4DApplication
from m4d.api.blueprint import Blueprint
from m4d.api.cluster import MemberCluster
from m4d.api.meta import API_GROUP, API_VERSION, Resource
from m4d.api.module import M4DModule
from m4d.api.plotter import Plotter
from m4d.api.report import BlueprintReport
from m4d.api.storage import M4DStorageAccount


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0  # 1 = only in `-o wide`
    description: str = ""


_AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class KindInfo:
    model: type[Resource]
    plural: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("m4d",)
    columns: tuple[PrinterColumn, ...] = ()
    group: str = API_GROUP
    version: str = API_VERSION
    description: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        return self.model.KIND

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def namespaced(self) -> bool:
        return self.model.NAMESPACED

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a user may type for this kind, lowercase."""
        return (self.kind.lower(), self.plural, self.singular, *self.short_names, *self.aliases)


def _ready(path: str = '.status.conditions[?(@.type=="Ready")].status') -> PrinterColumn:
    return PrinterColumn("Ready", path)


def _reason() -> PrinterColumn:
    return PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1)


KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        M4DApplication,
        plural="m4dapplications",
        short_names=("m4dapp", "app"),
        description="Data a workload needs, for which purpose, over which interface",
        columns=(
            _ready(".status.ready"),
            PrinterColumn("Intent", ".spec.appInfo.intent"),
            PrinterColumn("Plotter", ".status.plotter.name", priority=1),
            _reason(),
            _AGE,
        ),
    ),
    KindInfo(
        M4DModule,
        plural="m4dmodules",
        short_names=("m4dmod",),
        description="A module the platform can deploy: capabilities, interfaces, actions, deployment",
        columns=(PrinterColumn("Kind", ".spec.deployment.kind"), _AGE),
    ),
    KindInfo(
        M4DStorageAccount,
        plural="m4dstorageaccounts",
        short_names=("m4dsa",),
        description="Storage where implicit copies may be written",
        columns=(
            PrinterColumn("Geography", ".spec.geography"),
            PrinterColumn("Connection", ".spec.connection.kind"),
            _AGE,
        ),
    ),
    KindInfo(
        Plotter,
        plural="plotters",
        short_names=("plot",),
        description="The plan for one application: which modules run on which clusters",
        columns=(
            _ready(".status.ready"),
            PrinterColumn("Clusters", ".status.readyClusters"),
            PrinterColumn("Revision", ".status.committedRevision", priority=1),
            PrinterColumn("Review", ".status.review.url", priority=1),
            _AGE,
        ),
    ),
    KindInfo(
        Blueprint,
        plural="blueprints",
        short_names=("bp",),
        description="Everything one member cluster runs for one application",
        columns=(
            PrinterColumn("Cluster", ".spec.cluster"),
            _ready(),
            PrinterColumn("Application", ".spec.application.name", priority=1),
            _AGE,
        ),
    ),
    KindInfo(
        MemberCluster,
        plural="memberclusters",
        short_names=("mc",),
        description="A member cluster the hub plans onto",
        columns=(
            PrinterColumn("Region", ".spec.region"),
            PrinterColumn("Zone", ".spec.zone", priority=1),
            _ready(),
            PrinterColumn("Heartbeat", ".status.lastHeartbeat", "date"),
            PrinterColumn("Revision", ".status.appliedRevision", priority=1),
            _AGE,
        ),
    ),
    KindInfo(
        BlueprintReport,
        plural="blueprintreports",
        short_names=("bpr",),
        description="A member agent's report on one Blueprint",
        columns=(
            PrinterColumn("Cluster", ".spec.cluster"),
            PrinterColumn("Phase", ".spec.phase"),
            PrinterColumn("Revision", ".spec.appliedRevision", priority=1),
            _AGE,
        ),
    ),
)

_BY_MODEL: dict[type[Resource], KindInfo] = {info.model: info for info in KINDS}
_BY_NAME: dict[str, KindInfo] = {name: info for info in KINDS for name in info.names}


class UnknownKindError(LookupError):
    pass


def kind_info(kind: type[Resource] | str) -> KindInfo:
    """Look a kind up by model class, or by any name a user may type (kind, plural, short name)."""
    if isinstance(kind, str):
        info = _BY_NAME.get(kind.lower())
        if info is None:
            known = ", ".join(sorted(i.plural for i in KINDS))
            raise UnknownKindError(f"unknown kind {kind!r}; known kinds: {known}")
        return info
    try:
        return _BY_MODEL[kind]
    except KeyError:
        raise UnknownKindError(f"{kind.__name__} is not a registered kind") from None


def kind_for_object(api_version: str, kind: str) -> KindInfo:
    info = kind_info(kind)
    if info.kind != kind or info.api_version != api_version:
        raise UnknownKindError(
            f"unknown kind {api_version}/{kind}; this platform serves "
            + ", ".join(f"{i.api_version}/{i.kind}" for i in KINDS)
        )
    return info
