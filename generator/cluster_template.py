"""Cluster templates: what a cluster admin onboards a member from (`cluster-templates/*.yaml`).

A template declares its parameters (required or with a default, optionally a pattern or a list of
allowed values) and a `MemberCluster` spec in which `${name}` stands for a parameter's value. A key
whose value renders empty is left out (so an optional `server: ${server}` disappears when not given).
Every problem is reported at once, naming the parameter or the field.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from m4d.api.cluster import MemberClusterSpec
from m4d.api.meta import Model
from m4d.api.strict import load_yaml_file
from m4d.errors import FieldError, InvalidError, NotFoundError
from m4d.packaged import CLUSTER_TEMPLATES, data_dir

ENV_TEMPLATES = "M4D_CLUSTER_TEMPLATES"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\$")


class Parameter(Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    description: str = ""
    required: bool = False
    default: str | None = None
    pattern: str | None = None
    enum: list[str] | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value


class TemplateFile(Model):
    description: str = ""
    parameters: list[Parameter] = Field(default_factory=list)
    spec: dict[str, Any]


@dataclass(frozen=True)
class ClusterTemplate:
    name: str
    path: Path
    body: TemplateFile = field(repr=False)

    @property
    def description(self) -> str:
        return self.body.description


def templates_dir() -> Path:
    """`$M4D_CLUSTER_TEMPLATES`, else the templates shipped with the package (`cluster-templates/`)."""
    configured = os.environ.get(ENV_TEMPLATES)
    return Path(configured) if configured else data_dir(CLUSTER_TEMPLATES)


def available(folder: Path | None = None) -> list[str]:
    folder = folder or templates_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def load_template(name_or_path: str, folder: Path | None = None) -> ClusterTemplate:
    """A template by name (a file in the templates folder) or by path to a YAML file."""
    folder = folder or templates_dir()
    path = Path(name_or_path)
    if not path.is_file():
        path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(available(folder)) or f"none in {folder}"
        raise NotFoundError(f"no cluster template {name_or_path!r} (templates: {known})")
    raw = load_yaml_file(path, source=f"cluster template {path}") or {}  # UTF-8, strict YAML, size, depth
    try:
        body = TemplateFile.model_validate(raw)
    except ValidationError as exc:
        errors = [FieldError(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidError(f"cluster template {path}", errors) from None
    return ClusterTemplate(path.stem, path, body)


def _values(template: ClusterTemplate, given: dict[str, str], errors: list[FieldError]) -> dict[str, str]:
    params = {p.name: p for p in template.body.parameters}
    for key in sorted(set(given) - set(params)):
        errors.append(FieldError(key, f"not a parameter of template {template.name} (has {', '.join(params)})"))
    values: dict[str, str] = {}
    for p in template.body.parameters:
        value = given.get(p.name, p.default)
        if value is None or (p.required and value == ""):
            hint = f" ({p.description})" if p.description else ""
            errors.append(FieldError(p.name, f"required: give it with --set {p.name}=VALUE{hint}"))
            continue
        if p.enum is not None and value not in p.enum:
            errors.append(FieldError(p.name, f"must be one of {', '.join(p.enum)} (got {value!r})"))
        if p.pattern and value and not re.fullmatch(p.pattern, value):
            errors.append(FieldError(p.name, f"must match {p.pattern} (got {value!r})"))
        values[p.name] = value
    return values


def _render(node: Any, values: dict[str, str], path: str, errors: list[FieldError]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, sub in node.items():
            rendered = _render(sub, values, f"{path}.{key}" if path else str(key), errors)
            if rendered != "":
                out[key] = rendered
        return out
    if isinstance(node, list):
        return [_render(v, values, f"{path}[{i}]", errors) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name not in values:
            errors.append(FieldError(f"spec.{path}", f"${{{name}}} is not a declared parameter (or has no value)"))
            return ""
        return values[name]

    return _PLACEHOLDER.sub(substitute, node)


def render_spec(template: ClusterTemplate, given: dict[str, str]) -> MemberClusterSpec:
    """The MemberCluster spec for these parameter values, or InvalidError naming every problem."""
    errors: list[FieldError] = []
    values = _values(template, given, errors)
    if errors:
        raise InvalidError(f"values for cluster template {template.name}", errors)
    spec = _render(template.body.spec, values, "", errors)
    if errors:
        raise InvalidError(f"cluster template {template.path}", errors)
    try:
        return MemberClusterSpec.model_validate(spec)
    except ValidationError as exc:
        problems = [FieldError("spec." + ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        raise InvalidError(f"MemberCluster from template {template.path}", problems) from None
