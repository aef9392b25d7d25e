"""Validation of generated Argo CD objects against Argo CD's own CRDs, as its API server would do it.

The CRDs ship inside the package (`m4d/generator/argocd_crds/`, vendored from Argo CD with a provenance
note; `M4D_ARGOCD_CRDS` may name another folder holding the same files, e.g. a newer Argo CD's). Their
structural schemas are checked with the same rules `m4d.api.schema` applies to our own kinds (unknown fields, required
fields, types, enums, patterns), so a generated object that passes here is one `kubectl apply` takes.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from m4d.api.meta import is_dns_label, is_dns_subdomain
from m4d.api.schema import _check
from m4d.errors import FieldError, InvalidError, PermanentError

ARGOCD_GROUP_VERSION = "argoproj.io/v1alpha1"
_CRD_FILES = {"Application": "application-crd.yaml", "AppProject": "appproject-crd.yaml",
              "ApplicationSet": "applicationset-crd.yaml"}  # fmt: skip
ENV_CRDS = "M4D_ARGOCD_CRDS"


def argocd_crds_dir() -> Path:
    """`$M4D_ARGOCD_CRDS`, else the CRDs vendored in the package."""
    configured = os.environ.get(ENV_CRDS)
    if configured:
        return Path(configured)
    return Path(str(files("m4d.generator") / "argocd_crds"))


@cache
def _schema(kind: str, folder: str) -> dict[str, Any]:
    path = Path(folder) / _CRD_FILES[kind]
    if not path.is_file():
        raise PermanentError(
            f"cannot validate Argo CD {kind} objects: {path} is missing (the package ships the Argo CD CRDs in "
            f"m4d/generator/argocd_crds/; {ENV_CRDS} overrides it): set {ENV_CRDS} to a folder holding "
            f"{_CRD_FILES[kind]} or reinstall the package",
            reason="SchemaMissing",
        )
    with path.open("rb") as f:
        crd = yaml.load(f, Loader=yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)  # noqa: S506
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _check_meta(meta: Any, errors: list[FieldError], namespaced: bool = True) -> None:
    if not isinstance(meta, dict):
        errors.append(FieldError("metadata", "required"))
        return
    name = meta.get("name")
    if not isinstance(name, str) or not is_dns_subdomain(name):
        errors.append(FieldError("metadata.name", f"must be a lowercase RFC 1123 subdomain (got {name!r})"))
    namespace = meta.get("namespace")
    if namespaced and (not isinstance(namespace, str) or not is_dns_label(namespace)):
        errors.append(FieldError("metadata.namespace", f"must be a DNS label (got {namespace!r})"))
    for field in ("labels", "annotations"):
        entries = meta.get(field, {})
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            errors.append(FieldError(f"metadata.{field}", "must map strings to strings"))


def validate_argocd(obj: dict[str, Any]) -> None:
    """Raise InvalidError naming every field of `obj` (an Argo CD object) its CRD rejects."""
    kind = obj.get("kind")
    what = f"Argo CD {kind} {(obj.get('metadata') or {}).get('name', '(unnamed)')}"
    errors: list[FieldError] = []
    if obj.get("apiVersion") != ARGOCD_GROUP_VERSION:
        errors.append(FieldError("apiVersion", f"must be {ARGOCD_GROUP_VERSION}"))
    if kind not in _CRD_FILES:
        raise InvalidError(what, [FieldError("kind", f"must be one of {', '.join(sorted(_CRD_FILES))}")])
    _check_meta(obj.get("metadata"), errors)
    schema = _schema(str(kind), str(argocd_crds_dir()))
    _check(schema, {**obj, "metadata": {}}, "", errors)
    if errors:
        raise InvalidError(what, errors)


def validate_core(obj: dict[str, Any]) -> None:
    """The few core objects the generator writes (Namespace, a ConfigMap patch): names and shapes."""
    kind = obj.get("kind")
    errors: list[FieldError] = []
    if obj.get("apiVersion") != "v1" or kind not in ("Namespace", "ConfigMap"):
        errors.append(FieldError("kind", f"unexpected core object {obj.get('apiVersion')}/{kind}"))
    meta = obj.get("metadata")
    if kind == "Namespace" and isinstance(meta, dict) and not is_dns_label(str(meta.get("name"))):
        errors.append(FieldError("metadata.name", f"a namespace name must be a DNS label (got {meta.get('name')!r})"))
    else:
        _check_meta(meta, errors, namespaced=kind != "Namespace")
    data = obj.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        errors.append(FieldError("data", "must map strings to strings"))
    if errors:
        raise InvalidError(f"{kind} {(meta or {}).get('name', '(unnamed)') if isinstance(meta, dict) else ''}", errors)
