"""API types of app.m4d.dev/v1alpha1, one module per kind, and the registry that lists them."""

from m4d.api.application import M4DApplication
from m4d.api.blueprint import Blueprint
from m4d.api.cluster import MemberCluster
from m4d.api.meta import GROUP_VERSION, Condition, ObjectMeta, Resource
from m4d.api.module import M4DModule
from m4d.api.plotter import Plotter
from m4d.api.registry import KINDS, KindInfo, kind_info
from m4d.api.report import BlueprintReport
from m4d.api.storage import M4DStorageAccount

__all__ = [
    "GROUP_VERSION",
    "KINDS",
    "Blueprint",
    "BlueprintReport",
    "Condition",
    "KindInfo",
    "M4DApplication",
    "M4DModule",
    "M4DStorageAccount",
    "MemberCluster",
    "ObjectMeta",
    "Plotter",
    "Resource",
    "kind_info",
]
