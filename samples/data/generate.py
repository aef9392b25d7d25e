"""Generate the sample `transactions` table: ~10 mixed columns (ints, floats, timestamps, short strings).

    python samples/data/generate.py --rows 100000 --out samples/data/transactions.parquet

The same function feeds the benchmarks (10 million rows). Values are pseudo-random but deterministic for a
seed; `email` is a high-cardinality ~20-byte string (the column the benchmarks hash), `ssn` and `name`
are columns policies redact or remove, `country` is what row filters test.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

COUNTRIES = ["DE", "FR", "US", "IT", "ES", "NL", "PL", "SE", "GB", "JP"]
STATUSES = ["new", "paid", "refunded", "failed"]


def transactions(rows: int, seed: int = 7, offset: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed + offset)
    ids = np.arange(offset, offset + rows, dtype=np.int64)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    created = start + (ids * 1_000_003 % (365 * 86_400_000_000)).astype("timedelta64[us]")
    customer = rng.integers(0, 5_000_000, rows, dtype=np.int64)
    email = pc.binary_join_element_wise(
        pc.binary_join_element_wise(
            pc.cast(pa.array(customer), pa.string()), pa.array(rng.integers(0, 1000, rows)).cast(pa.string()), "."
        ),
        "@ex.org",
        "",
    )
    name = pc.binary_join_element_wise("cust-", pc.cast(pa.array(customer % 100_000), pa.string()), "")
    ssn = pc.binary_join_element_wise(
        pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 1000, rows)), pa.string()), 3, "0"),
        pc.utf8_lpad(pc.cast(pa.array(rng.integers(0, 10_000, rows)), pa.string()), 4, "0"),
        "-55-",
    )
    return pa.table(
        {
            "id": ids,
            "customer_id": customer.astype(np.int32),
            "amount": np.round(rng.gamma(2.0, 40.0, rows), 2),
            "score": rng.random(rows, dtype=np.float32),
            "created": pa.array(created, pa.timestamp("us")),
            "settled": pa.array(created + np.timedelta64(3600, "s"), pa.timestamp("us")),
            "country": pa.DictionaryArray.from_arrays(rng.integers(0, len(COUNTRIES), rows), COUNTRIES).cast(
                pa.string()
            ),
            "status": pa.DictionaryArray.from_arrays(rng.integers(0, len(STATUSES), rows), STATUSES).cast(pa.string()),
            "name": name,
            "email": email,
            "ssn": ssn,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("transactions.parquet"))
    args = parser.parse_args()
    pq.write_table(transactions(args.rows, args.seed), args.out)
    print(f"wrote {args.rows} rows to {args.out}")


if __name__ == "__main__":
    main()
