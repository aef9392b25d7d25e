"""Peak memory of the Flight module streaming a Parquet dataset, and one three times larger.

    .venv/bin/python benchmarks/bench_flight_memory.py [--rows 10000000]

The larger dataset is a directory of three hard links to the same file (3x the rows to decode and send).
Goal: the server's peak resident memory grows by less than 20 %. The bare server's figure on the single
file is printed for orientation.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pyarrow.flight as flight
from common import (
    REDACT_REMOVE_FILTER,
    TOKEN,
    WITH_HASH,
    bare_server,
    cache_dir,
    dataset,
    module_server,
    peak_rss_mb,
    read_all,
)


def three_times(parquet: Path) -> Path:
    directory = cache_dir() / f"{parquet.stem}-x3"
    directory.mkdir(exist_ok=True)
    for i in range(3):
        link = directory / f"part-{i}.parquet"
        if not link.exists():
            os.link(parquet, link)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    parquet, _ = dataset(args.rows)
    bigger = three_times(parquet)
    with bare_server("parquet", parquet) as bare:
        read_all(bare.location, flight.FlightDescriptor.for_path("data"))
        print(f"bare server, {args.rows:,} rows: peak RSS {peak_rss_mb(bare.pid):.0f} MB")
    for case, actions in (("redact+remove+filter", REDACT_REMOVE_FILTER), ("+hash", WITH_HASH)):
        peaks = []
        for path, rows in ((parquet, args.rows), (bigger, 3 * args.rows)):
            with module_server(path, "parquet", actions) as module:
                got = read_all(module.location, flight.FlightDescriptor.for_path("bench/transactions"), TOKEN)
                peaks.append(peak_rss_mb(module.pid))
            assert got.rows >= rows * 0.9, got  # the filter drops ~6 %
            print(f"module {case:22} {rows:>11,} rows: peak RSS {peaks[-1]:.0f} MB")
        growth = peaks[1] / peaks[0] - 1
        print(f"module {case:22} growth for 3x the data: {growth * 100:+.1f} % (goal < 20 %) "
              f"{'ok' if growth < 0.2 else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    main()
