"""CustomResourceDefinitions generated from the pydantic models.

Pydantic's JSON Schema is turned into a structural OpenAPI v3 schema as the API server requires:
references inlined, every node typed, optional fields plain (nulls are pruned), free-form maps marked
`x-kubernetes-preserve-unknown-fields`, no `additionalProperties: false` (unknown fields are rejected
by strict field validation instead).
"""

from __future__ import annotations

from typing import Any

import yaml

from m4d.api.registry import KINDS, KindInfo

Schema = dict[str, Any]

_KEEP = (
    "type", "format", "description", "enum", "default", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
)  # fmt: skip


def _resolve(node: Schema, defs: dict[str, Schema]) -> Schema:
    ref = node.get("$ref")
    if ref is None:
        return node
    target = defs[ref.rsplit("/", 1)[-1]]
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _resolve(merged, defs)


def _structural(node: Schema, defs: dict[str, Schema]) -> Schema:
    node = _resolve(node, defs)
    variants = node.get("anyOf")
    if variants is not None:
        non_null = [v for v in variants if v.get("type") != "null"]
        if len(non_null) != 1:
            raise ValueError(f"cannot express a union in a structural schema: {variants}")
        outer = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
        if node.get("default") is not None:
            outer["default"] = node["default"]
        return _structural({**_resolve(non_null[0], defs), **outer}, defs)

    out: Schema = {k: node[k] for k in _KEEP if k in node}
    if "const" in node:
        out["enum"] = [node["const"]]
    kind = node.get("type")
    if kind is None:
        # Any: accepted as is.
        out.pop("default", None)
        return {**out, "x-kubernetes-preserve-unknown-fields": True}
    if "enum" in out:
        out["enum"] = list(out["enum"])
    if kind == "object":
        props = node.get("properties")
        extra = node.get("additionalProperties")
        if props is not None:
            out["properties"] = {name: _structural(sub, defs) for name, sub in props.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
        elif isinstance(extra, dict) and extra:
            out["additionalProperties"] = _structural(extra, defs)
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["items"] = _structural(node.get("items", {}), defs)
    return out


def openapi_schema(info: KindInfo) -> Schema:
    """The structural schema of one kind, as it goes into its CRD."""
    source = info.model.model_json_schema(by_alias=True, mode="validation")
    defs = source.get("$defs", {})
    props = source["properties"]
    schema: Schema = {
        "type": "object",
        "description": info.description or (info.model.__doc__ or "").strip().splitlines()[0],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _structural(props["spec"], defs),
            "status": _structural(props["status"], defs),
        },
        "required": ["spec"],
    }
    return schema


def crd(info: KindInfo) -> dict[str, Any]:
    columns = [
        {
            "name": c.name,
            "type": c.type,
            "jsonPath": c.json_path,
            **({"priority": c.priority} if c.priority else {}),
            **({"description": c.description} if c.description else {}),
        }
        for c in info.columns
    ]
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.categories:
        names["categories"] = list(info.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name},
        "spec": {
            "group": info.group,
            "names": names,
            "scope": "Namespaced" if info.namespaced else "Cluster",
            "versions": [
                {
                    "name": info.version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema(info)},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd(info) for info in KINDS]


def dump_yaml(doc: dict[str, Any]) -> str:
    """Stable YAML: the generated files are committed, so the same models must give the same bytes."""
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True)


def crd_files() -> dict[str, str]:
    """{file name: YAML} for deploy/crds/."""
    return {f"{info.group}_{info.plural}.yaml": dump_yaml(crd(info)) for info in KINDS}


def crds_yaml() -> str:
    return "---\n".join(dump_yaml(d) for d in all_crds())
