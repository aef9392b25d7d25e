"""Throughput of the Flight module against a bare pyarrow Flight server on the same data, same run.

    .venv/bin/python benchmarks/bench_flight_transforms.py [--rows 10000000] [--runs 3]

Cases, each from memory (the module memory-maps an Arrow IPC file; the bare server holds the table in
memory) and from Parquet (both through a bounded row-group reader):
  redact + remove + filter      goal >= 0.9x the bare server (a time-range filter dropping ~6 %)
  ... + keyed hash of `email`   goal >= 0.15x from memory, >= 0.5x from Parquet
  redact + remove + a filter dropping 10 % of rows all over (every batch copied), for orientation
Throughput is source rows per second; one of 11 columns is removed, one redacted.
"""

from __future__ import annotations

import argparse

import pyarrow.flight as flight
from common import (
    REDACT_REMOVE_FILTER,
    REDACT_REMOVE_SCATTERED,
    TOKEN,
    WITH_HASH,
    bare_server,
    best_of,
    cpu_seconds,
    dataset,
    module_server,
    read_all,
)

GOALS = {("memory", "redact+remove+filter"): 0.9, ("parquet", "redact+remove+filter"): 0.9,
         ("memory", "+hash"): 0.15, ("parquet", "+hash"): 0.5}  # fmt: skip
CASES = (
    ("redact+remove+filter", REDACT_REMOVE_FILTER),
    ("+hash", WITH_HASH),
    ("r+r+scattered filter", REDACT_REMOVE_SCATTERED),  # for orientation: no goal
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    parquet, arrow = dataset(args.rows)
    print(f"{args.rows:,} rows, 11 columns; best of {args.runs} runs; 2 client streams")
    print(f"{'source':8} {'case':24} {'M rows/s':>9} {'GB/s':>6} {'ratio':>6} {'goal':>13} {'CPU s/Mrow':>10}")
    for source, path, fmt in (("memory", arrow, "arrow"), ("parquet", parquet, "parquet")):
        with bare_server(source, path) as bare:
            before = cpu_seconds(bare.pid)
            base = best_of(args.runs, lambda: read_all(bare.location, flight.FlightDescriptor.for_path("data")))
            base_cpu = (cpu_seconds(bare.pid) - before) / args.runs / (args.rows / 1e6)
        rate, gbs = base.rows_per_s / 1e6, base.bytes / base.seconds / 1e9
        print(f"{source:8} {'bare pyarrow Flight':24} {rate:9.2f} {gbs:6.2f} {'':6} {'':13} {base_cpu:10.3f}")
        for case, actions in CASES:
            with module_server(path, fmt, actions) as module:
                before = cpu_seconds(module.pid)
                got = best_of(
                    args.runs,
                    lambda: read_all(module.location, flight.FlightDescriptor.for_path("bench/transactions"), TOKEN),
                )
                cpu = (cpu_seconds(module.pid) - before) / args.runs / (args.rows / 1e6)
            ratio = got.rows_per_s / base.rows_per_s
            goal = GOALS.get((source, case))
            verdict = "" if goal is None else f"{goal:6.2f} {'ok' if ratio >= goal else 'MISSED'}"
            print(f"{source:8} {case:24} {got.rows_per_s / 1e6:9.2f} {got.bytes / got.seconds / 1e9:6.2f} "
                  f"{ratio:6.2f} {verdict:13} {cpu:10.3f}  (CPU ratio {base_cpu / cpu:4.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
