"""Plotters and clusters for the GitOps tests and benchmark: small, valid, varied on purpose."""

from __future__ import annotations

from m4d.api.cluster import ArgoDestination, MemberCluster, MemberClusterSpec
from m4d.api.common import Action, Connection, DataStore, Interface
from m4d.api.module import ModuleDeployment
from m4d.api.plotter import AppRef, Plotter, PlotterFlow, PlotterModule, PlotterSpec, Step

FLIGHT = Interface(protocol="fybrik-arrow-flight")


def member(
    name: str, region: str = "eu-de", zone: str | None = None, namespace: str = "m4d-blueprints"
) -> MemberCluster:
    return MemberCluster.new(
        name, spec=MemberClusterSpec(region=region, zone=zone, destination=ArgoDestination(namespace=namespace))
    )


def members(count: int) -> list[MemberCluster]:
    return [member(f"member{i}", region=f"region-{i % 4}") for i in range(1, count + 1)]


def s3_store(bucket: str, key: str) -> DataStore:
    return DataStore(
        connection=Connection(
            kind="s3", properties={"endpoint": "http://127.0.0.1:9000", "bucket": bucket, "key": key}
        ),
        format="parquet",
        credential_ref=f"/v1/m4d/data/{bucket}",
    )


def plotter(
    name: str = "app",
    namespace: str = "default",
    clusters: tuple[str, ...] = ("member1",),
    uid: str = "",
    assets: int = 1,
    redact: tuple[str, ...] = ("ssn",),
    generation: int = 1,
) -> Plotter:
    """A read plan: for each asset, a read step on each of `clusters` (one module template)."""
    modules = {
        "read-module": PlotterModule(
            module="m4d-system/arrow-flight-module",
            deployment=ModuleDeployment(command=["m4d", "module", "flight", "--config", "{config}"], port=0),
            api=FLIGHT,
        )
    }
    flows = [
        PlotterFlow(
            name=f"read-a{i}",
            asset_id=f"catalog/a{i}",
            flow="read",
            steps=[
                Step(
                    name=f"read-{cluster}",
                    cluster=cluster,
                    module="read-module",
                    capability="read",
                    source=s3_store("data", f"a{i}.parquet"),
                    actions=[Action(name="RedactColumn", columns=list(redact))] if redact else [],
                    api=FLIGHT,
                )
                for cluster in clusters
            ],
        )
        for i in range(assets)
    ]
    app = AppRef(name=name, namespace=namespace, uid=uid or f"uid-{namespace}-{name}", generation=generation)
    obj = Plotter.new(name, namespace, spec=PlotterSpec(application=app, modules=modules, flows=flows))
    obj.metadata.generation = generation
    obj.metadata.uid = f"plotter-{app.uid}"
    return obj
