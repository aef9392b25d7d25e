"""Throughput of the Flight module against a bare pyarrow Flight server on the same data, same run.

    .venv/bin/python benchmarks/bench_flight_transforms.py [--rows 10000000] [--runs 5]

Cases, each from memory (the module memory-maps an Arrow IPC file; the bare server holds the table in
memory) and from Parquet (both through a bounded row-group reader):
  redact + remove + filter      goal >= 0.9x the bare server (a time-range filter dropping ~6 %)
  ... + keyed hash of `email`   goal >= 0.15x from memory, >= 0.5x from Parquet
  redact + remove + a filter dropping 10 % of rows all over (every batch copied), for orientation
Throughput is source rows per second; one of 11 columns is removed, one redacted. Every round reads the
bare server and then each module server, so a ratio compares reads made seconds apart; the goal is judged
on the median of the rounds' ratios (the machine's speed drifts by tens of percent from minute to minute),
and the best round of each server is shown as well.
"""

from __future__ import annotations

import argparse
import statistics
from contextlib import ExitStack

import pyarrow.flight as flight
from common import (
    REDACT_REMOVE_FILTER,
    REDACT_REMOVE_SCATTERED,
    TOKEN,
    WITH_HASH,
    Measured,
    bare_server,
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
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    parquet, arrow = dataset(args.rows)
    print(f"{args.rows:,} rows, 11 columns; {args.runs} rounds; 2 client streams")
    header = ("source", "case", "M rows/s", "GB/s", "ratio", "best", "goal", "CPU s/Mrow")
    print("{:8} {:24} {:>9} {:>6} {:>6} {:>6} {:>13} {:>10}".format(*header))
    print("{:8} {:24} {:>9} {:>6} {:>6} {:>6}".format("", "", "(best)", "", "median", "ratio"))
    for source, path, fmt in (("memory", arrow, "arrow"), ("parquet", parquet, "parquet")):
        with ExitStack() as servers:
            # All servers up at once and read in turns, so a burst of load elsewhere hits them alike.
            bare = servers.enter_context(bare_server(source, path))
            modules = [(case, servers.enter_context(module_server(path, fmt, actions))) for case, actions in CASES]
            runs: dict[str, list[Measured]] = {}
            cpu: dict[str, float] = {}
            targets = [("bare", bare, flight.FlightDescriptor.for_path("data"), None)] + [
                (case, m, flight.FlightDescriptor.for_path("bench/transactions"), TOKEN) for case, m in modules
            ]
            for _ in range(args.runs):
                for name, server, descriptor, token in targets:
                    before = cpu_seconds(server.pid)
                    runs.setdefault(name, []).append(read_all(server.location, descriptor, token))
                    cpu[name] = cpu.get(name, 0.0) + cpu_seconds(server.pid) - before
        best = {name: min(results, key=lambda m: m.seconds) for name, results in runs.items()}
        per_mrow = {name: cpu[name] / args.runs / (args.rows / 1e6) for name in cpu}
        base = best["bare"]
        rate, gbs = base.rows_per_s / 1e6, base.bytes / base.seconds / 1e9
        print(f"{source:8} {'bare pyarrow Flight':24} {rate:9.2f} {gbs:6.2f} {'':27} {per_mrow['bare']:10.3f}")
        for case, _ in CASES:
            got = best[case]
            rounds = zip(runs[case], runs["bare"], strict=True)
            paired = statistics.median(m.rows_per_s / b.rows_per_s for m, b in rounds)
            goal = GOALS.get((source, case))
            verdict = "" if goal is None else f"{goal:6.2f} {'ok' if paired >= goal else 'MISSED'}"
            print(f"{source:8} {case:24} {got.rows_per_s / 1e6:9.2f} {got.bytes / got.seconds / 1e9:6.2f} "
                  f"{paired:6.2f} {got.rows_per_s / base.rows_per_s:6.2f} {verdict:13} {per_mrow[case]:10.3f}  "
                  f"(CPU ratio {per_mrow['bare'] / per_mrow[case]:4.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
