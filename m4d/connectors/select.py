"""Which catalog and policy manager to use, from a short spec (a command-line option or hub.yaml):

    catalog:  file:DIR          the built-in YAML catalog
              fybrik:URL        a Fybrik data-catalog connector (POST URL/getAssetInfo)
    policy:   builtin:DIR       the built-in rules engine over YAML policies
              opa:URL           OPA; URL may end in /v1/data/<package path> (default m4d/decisions)
              fybrik:URL        a Fybrik policy-manager connector (POST URL/getPoliciesDecisions)

Relative directories are taken relative to `base`. Credentials for the Fybrik connectors' request
headers come from the environment (M4D_CATALOG_CREDENTIALS, M4D_POLICY_CREDENTIALS), never from a file
that may end up in Git.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from m4d.connectors.catalog import Catalog, FileCatalog, FybrikCatalog
from m4d.connectors.policy import BuiltinPolicyEngine, FybrikPolicyManager, OpaPolicyManager, PolicyManager
from m4d.connectors.policy.opa import DEFAULT_PATH
from m4d.errors import FieldError, InvalidError
from m4d.taxonomy import Taxonomy

CATALOG_SCHEMES = ("file", "fybrik")
POLICY_SCHEMES = ("builtin", "opa", "fybrik")


def spec_errors(catalog: str | None, policy: str | None) -> list[FieldError]:
    """What is wrong with these specs (empty when both are usable or not given)."""
    errors: list[FieldError] = []
    for field, spec, schemes in (("catalog", catalog, CATALOG_SCHEMES), ("policy", policy, POLICY_SCHEMES)):
        if spec is not None:
            try:
                _split(spec, schemes, field)
            except InvalidError as exc:
                errors += [FieldError(e.path, f"{e.message} (got {spec!r})") for e in exc.errors]
    return errors


def _split(spec: str, schemes: tuple[str, ...], field: str) -> tuple[str, str]:
    scheme, sep, rest = spec.partition(":")
    if not sep or scheme not in schemes or not rest:
        allowed = ", ".join(f"{s}:..." for s in schemes)
        raise InvalidError(f"{field} {spec!r}", [FieldError(field, f"must be one of {allowed}")])
    return scheme, rest


def _directory(rest: str, base: Path) -> Path:
    path = Path(rest)
    return path if path.is_absolute() else base / path


def open_catalog(spec: str, *, taxonomy: Taxonomy, base: Path = Path(), timeout: float = 5.0) -> Catalog:
    scheme, rest = _split(spec, CATALOG_SCHEMES, "catalog")
    if scheme == "file":
        return FileCatalog(_directory(rest, base), taxonomy)
    credentials = os.environ.get("M4D_CATALOG_CREDENTIALS", "")
    return FybrikCatalog(rest, credentials=credentials, timeout=timeout, taxonomy=taxonomy)


def open_policy_manager(
    spec: str,
    *,
    taxonomy: Taxonomy,
    base: Path = Path(),
    timeout: float = 5.0,
    default: Literal["allow", "deny"] | None = None,
) -> PolicyManager:
    scheme, rest = _split(spec, POLICY_SCHEMES, "policy")
    if scheme == "builtin":
        return BuiltinPolicyEngine(_directory(rest, base), default=default, taxonomy=taxonomy)
    if scheme == "opa":
        url, _, path = rest.partition("/v1/data/")
        return OpaPolicyManager(url, path=path or DEFAULT_PATH, timeout=timeout, taxonomy=taxonomy)
    credentials = os.environ.get("M4D_POLICY_CREDENTIALS", "")
    return FybrikPolicyManager(rest, credentials=credentials, timeout=timeout, taxonomy=taxonomy)
