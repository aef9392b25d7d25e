"""The baseline: a bare pyarrow Flight server on the same data, with no governance.

    python benchmarks/bare_flight_server.py --source memory|parquet FILE --ready-file R

`memory` loads an Arrow IPC file into memory and streams slices of it (RecordBatchStream, all C++);
`parquet` streams row-group ranges of a Parquet file through the same bounded reader the module uses.
One endpoint per `--rows-per-partition` rows, as the module serves them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq

BATCH_ROWS = 65_536


class BareServer(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(self, source: str, path: Path, rows_per_partition: int) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.source, self.path = source, path
        if source == "memory":
            with pa.memory_map(str(path)) as f:
                self.table = pa.ipc.open_file(f).read_all().combine_chunks()  # a real in-memory copy
            n = self.table.num_rows
            self.parts = [(i, min(rows_per_partition, n - i)) for i in range(0, n, rows_per_partition)]
            self.schema = self.table.schema
        else:
            meta = pq.ParquetFile(str(path)).metadata
            self.schema = pq.ParquetFile(str(path)).schema_arrow
            groups: list[list[int]] = [[]]
            rows = 0
            for g in range(meta.num_row_groups):
                size = meta.row_group(g).num_rows
                if groups[-1] and rows + size > rows_per_partition:
                    groups.append([])
                    rows = 0
                groups[-1].append(g)
                rows += size
            self.parts = groups  # type: ignore[assignment]

    def get_flight_info(self, context: Any, descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        endpoints = [flight.FlightEndpoint(str(i).encode(), []) for i in range(len(self.parts))]
        return flight.FlightInfo(self.schema, descriptor, endpoints, -1, -1)

    def do_get(self, context: Any, ticket: flight.Ticket) -> flight.FlightDataStream:
        part = self.parts[int(ticket.ticket.decode())]
        if self.source == "memory":
            start, length = part  # type: ignore[misc]
            return flight.RecordBatchStream(
                pa.Table.from_batches(self.table.slice(start, length).to_batches(max_chunksize=BATCH_ROWS))
            )

        def batches() -> Any:
            with pa.OSFile(str(self.path)) as f:
                reader = pq.ParquetFile(f, buffer_size=4 << 20, pre_buffer=False)
                yield from reader.iter_batches(BATCH_ROWS, row_groups=part)

        return flight.GeneratorStream(self.schema, batches())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", choices=["memory", "parquet"], required=True)
    parser.add_argument("file", type=Path)
    parser.add_argument("--rows-per-partition", type=int, default=1 << 20)
    parser.add_argument("--ready-file", type=Path, required=True)
    args = parser.parse_args()
    server = BareServer(args.source, args.file, args.rows_per_partition)
    partial = args.ready_file.with_suffix(".partial")
    partial.write_text(json.dumps({"hostname": "127.0.0.1", "port": server.port}))
    partial.replace(args.ready_file)
    server.serve()


if __name__ == "__main__":
    main()
