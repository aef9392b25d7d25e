"""The copy module against pyarrow.parquet read + write of the same data, in the same run.

    .venv/bin/python benchmarks/bench_copy.py [--rows 10000000] [--runs 2]

Baseline: `pq.write_table(pq.read_table(src), dst)` (whole table in memory, multithreaded decode).
The copy module streams partition by partition with bounded memory, staging and committing its parts.
Goal: at least 0.8x the baseline's rows per second (no transforms). A copy with redact + remove is
printed for orientation.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml
from common import REDACT_REMOVE_FILTER, dataset

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.credentials import CredentialSource, open_store
from m4d.modules.config import ModuleConfig
from m4d.modules.copy import CopyJob, Reporter


def baseline(src: Path, out: Path) -> float:
    start = time.perf_counter()
    pq.write_table(pq.read_table(src), out / "copy.parquet", compression="snappy")
    return time.perf_counter() - start


def module_copy(src: Path, out: Path, actions: list[Action]) -> float:
    secrets = out / "secrets.yaml"
    secrets.write_text(yaml.safe_dump({"none": {"x": "y"}}))

    def store(path: Path) -> DataStore:
        return DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format="parquet")

    asset = ModuleAsset(
        asset_id="bench/t", capability="copy", source=store(src), sink=store(out / "copy"), actions=actions
    )
    config = ModuleConfig(name="copy", assets=[asset], credentials=CredentialSource(kind="file", path=str(secrets)))
    start = time.perf_counter()
    with Reporter(None, show_bar=False) as reporter:
        status = CopyJob(config, open_store(config.credentials), reporter).run()  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    written = sum(pq.ParquetFile(p).metadata.num_rows for p in (out / "copy").glob("part-*.parquet"))
    assert written == status.rows_copied > 0, (written, status)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    src, _ = dataset(args.rows)
    results: dict[str, float] = {}
    for _ in range(args.runs):
        for name, fn in (
            ("pyarrow read_table + write_table", lambda out: baseline(src, out)),
            ("copy module", lambda out: module_copy(src, out, [])),
            ("copy module, redact + remove + filter", lambda out: module_copy(src, out, REDACT_REMOVE_FILTER)),
        ):
            out = Path(tempfile.mkdtemp(prefix="m4d-bench-copy-"))
            try:
                seconds = fn(out)
            finally:
                shutil.rmtree(out, ignore_errors=True)
            results[name] = min(results.get(name, seconds), seconds)
    base = results["pyarrow read_table + write_table"]
    print(f"{args.rows:,} rows; best of {args.runs}")
    for name, seconds in results.items():
        ratio = base / seconds
        print(f"{name:40} {args.rows / seconds / 1e6:6.2f} M rows/s  ratio {ratio:5.2f}")
    ratio = base / results["copy module"]
    print(f"copy module / baseline: {ratio:.2f} (goal >= 0.8) {'ok' if ratio >= 0.8 else 'MISSED'}")


if __name__ == "__main__":
    main()
