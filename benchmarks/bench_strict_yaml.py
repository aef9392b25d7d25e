"""Strict reading (m4d.api.strict) against PyYAML's plain loaders, on the same text, in the same run.

    .venv/bin/python benchmarks/bench_strict_yaml.py [--assets 5000] [--documents 2000] [--runs 5]

Two inputs: one large catalog file (the built-in catalog re-reads it on every change) and a stream of
many small resources (what `m4d apply -f dir/` reads). Baselines: `yaml.load(..., CSafeLoader)` (libyaml,
no checks) and `yaml.safe_load_all` (the pure-Python loader `m4d apply` used before). The strict loader
adds duplicate-key, depth, alias-expansion and value checks on top of libyaml.
Goal: within 2x of the plain C loader; well ahead of the pure-Python one.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import yaml

from m4d.api.strict import FILE_LIMITS, load_yaml, yaml_documents


def catalog(assets: int) -> str:
    rows = []
    for i in range(assets):
        rows.append(
            f"  - id: team{i % 50}/asset-{i}\n    geography: eu-de\n    tags: [finance, Residency.EU]\n"
            f"    connection: {{kind: file, properties: {{path: /data/a{i}.parquet}}}}\n    format: parquet\n"
            "    columns:\n" + "".join(f"      - {{name: c{j}, tags: [PII.Sensitive]}}\n" for j in range(8))
        )
    return "assets:\n" + "".join(rows)


def resources(documents: int) -> str:
    doc = (
        "apiVersion: app.m4d.dev/v1alpha1\nkind: M4DApplication\nmetadata:\n  name: app-{i}\n  labels: {{team: t}}\n"
        "spec:\n  appInfo: {{intent: Fraud Detection, role: Analyst}}\n  data:\n"
        "    - dataSetID: finance/transactions\n"
        "      requirements: {{interface: {{protocol: fybrik-arrow-flight, dataformat: arrow}}}}\n"
    )
    return "---\n".join(doc.format(i=i) for i in range(documents))


def median(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=5000)
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    text = catalog(args.assets)
    plain = median(args.runs, lambda: yaml.load(text, Loader=yaml.CSafeLoader))
    strict = median(args.runs, lambda: load_yaml(text, "catalog.yaml", FILE_LIMITS))
    print(f"catalog file, {args.assets} assets, {len(text) / 1e6:.1f} MB")
    print(
        f"  plain C loader {plain * 1000:.0f} ms, strict {strict * 1000:.0f} ms: strict/plain = {strict / plain:.2f}x"
    )

    stream = resources(args.documents)
    plain = median(args.runs, lambda: list(yaml.load_all(stream, Loader=yaml.CSafeLoader)))
    python = median(max(1, args.runs // 2), lambda: list(yaml.safe_load_all(stream)))
    strict = median(args.runs, lambda: list(yaml_documents(stream, "apply")))
    print(f"resource stream, {args.documents} documents, {len(stream) / 1e6:.1f} MB")
    print(
        f"  plain C loader {plain * 1000:.0f} ms, pure-Python loader {python * 1000:.0f} ms, strict "
        f"{strict * 1000:.0f} ms: strict/plain = {strict / plain:.2f}x, pure-Python/strict = {python / strict:.1f}x"
    )


if __name__ == "__main__":
    main()
