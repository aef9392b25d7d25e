"""Small valid objects of every kind, for tests across the suite."""

from __future__ import annotations

from m4d.api import M4DApplication, MemberCluster
from m4d.api.application import AppInfo, DataContext, DataRequirements, M4DApplicationSpec
from m4d.api.cluster import MemberClusterSpec
from m4d.api.common import Interface


def application(
    name: str = "app", namespace: str = "default", intent: str = "Fraud Detection", assets: tuple[str, ...] = ("a1",)
) -> M4DApplication:
    data = [
        DataContext(data_set_id=a, requirements=DataRequirements(interface=Interface(protocol="fybrik-arrow-flight")))
        for a in assets
    ]
    return M4DApplication.new(name, namespace, spec=M4DApplicationSpec(app_info=AppInfo(intent=intent), data=data))


def member(name: str = "m1", region: str = "eu-de", labels: dict[str, str] | None = None) -> MemberCluster:
    obj = MemberCluster.new(name, spec=MemberClusterSpec(region=region))
    obj.metadata.labels = dict(labels or {})
    return obj
