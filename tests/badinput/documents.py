"""Documents the bad-input corpus is made of: valid ones to break, and the breakages."""

from __future__ import annotations

import json

API = "app.m4d.dev/v1alpha1"


def member(name: str = "m2", extra: str = "") -> str:
    return f"apiVersion: {API}\nkind: MemberCluster\nmetadata:\n  name: {name}\n{extra}spec:\n  region: eu-de\n"


def app(name: str = "a", data_set: str = "finance/transactions", extra_meta: str = "") -> str:
    return (
        f"apiVersion: {API}\nkind: M4DApplication\nmetadata:\n  name: {name}\n{extra_meta}spec:\n"
        "  appInfo: {intent: Fraud Detection}\n"
        f"  data:\n    - dataSetID: {json.dumps(data_set)}\n"
        "      requirements: {interface: {protocol: fybrik-arrow-flight, dataformat: arrow}}\n"
    )


def member_json(name: str = "j1", **spec: object) -> dict[str, object]:
    return {"apiVersion": API, "kind": "MemberCluster", "metadata": {"name": name}, "spec": {"region": "eu-de", **spec}}


def stream(*docs: str) -> bytes:
    return "---\n".join(docs).encode()


def nested_block(levels: int) -> str:
    """A member whose labels hold `levels` nested mappings (block style)."""
    lines = [
        f"apiVersion: {API}",
        "kind: MemberCluster",
        "metadata: {name: deep}",
        "spec:",
        "  region: eu",
        "  labels:",
    ]
    lines += [f"{'  ' * (i + 2)}k{i}:" for i in range(levels)]
    lines.append(f"{'  ' * (levels + 2)}x")
    return "\n".join(lines) + "\n"


def nested_flow(levels: int) -> str:
    nested = "[" * levels + "]" * levels
    return f"apiVersion: {API}\nkind: MemberCluster\nmetadata: {{name: deep}}\nspec: {{labels: {{a: {nested}}}}}\n"


def alias_bomb(levels: int = 9, where: str = "labels") -> str:
    """`levels` layers of ten aliases each: 10**levels values once expanded, a few hundred bytes written."""
    lines = ["    l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    body = "\n".join(lines)
    return f"apiVersion: {API}\nkind: MemberCluster\nmetadata:\n  name: bomb\n  {where}:\n{body}\nspec:\n  region: eu\n"


def big_labels(name: str, total: int) -> str:
    """A member with about `total` bytes of labels (64 KiB values)."""
    chunk = 64 * 1024
    labels = "".join(f"    k{i}: {'x' * chunk}\n" for i in range(total // chunk))
    return (
        f"apiVersion: {API}\nkind: MemberCluster\nmetadata:\n  name: {name}\nspec:\n  region: eu\n  labels:\n{labels}"
    )


def many_data(entries: int) -> str:
    item = "    - {dataSetID: d%d, requirements: {interface: {protocol: fybrik-arrow-flight}}}\n"
    rows = "".join(item % i for i in range(entries))
    head = f"apiVersion: {API}\nkind: M4DApplication\nmetadata: {{name: many}}\n"
    return head + f"spec:\n  appInfo: {{intent: x}}\n  data:\n{rows}"
