"""Render: a Blueprint manifest from its parameters, validated against the Blueprint CRD."""

from __future__ import annotations

from typing import Any

from m4d.api.blueprint import Blueprint, BlueprintSpec
from m4d.api.meta import ObjectMeta
from m4d.api.registry import kind_info
from m4d.api.schema import validate_object
from m4d.credentials.signing import SIGNATURE_ANNOTATION, sign
from m4d.generator.naming import ANNOTATION_APPLICATION, ANNOTATION_CLUSTER, ANNOTATION_PLOTTER, MANAGED_BY
from m4d.generator.params import BlueprintParams


def blueprint(params: BlueprintParams) -> Blueprint:
    app = params.application
    return Blueprint(
        metadata=ObjectMeta(
            name=params.name,
            namespace=params.namespace,
            labels=dict(MANAGED_BY),
            annotations={
                ANNOTATION_APPLICATION: f"{app.namespace}/{app.name}",
                ANNOTATION_CLUSTER: params.cluster,
                ANNOTATION_PLOTTER: params.plotter,
            },
        ),
        spec=BlueprintSpec(
            cluster=params.cluster,
            application=app,
            plotter=params.plotter,
            modules=list(params.modules),
            vault=params.vault,
        ),
    )


def blueprint_manifest(params: BlueprintParams, key: bytes | None = None) -> dict[str, Any]:
    """The Blueprint as the member's API server stores it (defaults applied), or InvalidError; signed with
    the member's `key` (the agent runs nothing a Blueprint without the hub's signature asks for).

    Writing the stored form means Argo CD's diff of desired against live sees no difference the
    server made up, so a synced Blueprint reads as in sync.
    """
    wire = blueprint(params).wire()
    # Only the metadata we mean: empty lists and server fields would read as drift in Argo CD's diff.
    wire["metadata"] = {k: v for k, v in wire["metadata"].items() if v not in ([], {}, None)}
    manifest = validate_object(kind_info(Blueprint), wire, f"Blueprint {params.name} for cluster {params.cluster}")
    if key is not None:
        spec = BlueprintSpec.model_validate(manifest["spec"])  # what the member will read and check
        signature = sign(key, params.cluster, params.namespace, params.name, spec)
        manifest["metadata"].setdefault("annotations", {})[SIGNATURE_ANNOTATION] = signature
    return manifest
