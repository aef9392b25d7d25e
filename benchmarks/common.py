"""Shared by the benchmarks: the cached 10-million-row dataset, servers in their own processes, a client.

Servers run as separate processes (the module through `m4d module flight`, the baseline through
bare_flight_server.py) so the client does not share their interpreter; each is read the same way: every
endpoint, two streams at a time, batches counted and dropped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.flight as flight
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "samples" / "data"))

from generate import transactions  # noqa: E402

from m4d.api.blueprint import ModuleAsset  # noqa: E402
from m4d.api.common import Action, Connection, DataStore  # noqa: E402
from m4d.credentials import CredentialSource  # noqa: E402
from m4d.modules.config import ClientGrant, ModuleConfig  # noqa: E402

TOKEN = "bench-token"
HASH_KEY_REF = "bench/hash-key"
CHUNK = 1_000_000
M4D = str(Path(sys.executable).with_name("m4d"))

# A retention-style filter: the data is time-ordered, so kept rows form runs served without copying.
REDACT_REMOVE_FILTER = [
    Action(name="RedactColumn", columns=["name"]),
    Action(name="RemoveColumn", columns=["ssn"]),
    Action(name="FilterRows", options={"predicate": "created >= timestamp '2024-01-08'"}),  # drops ~6 %
]
# A filter that drops rows all over (10 %): every batch is copied.
REDACT_REMOVE_SCATTERED = [
    *REDACT_REMOVE_FILTER[:2],
    Action(name="FilterRows", options={"predicate": "country <> 'US'"}),
]
WITH_HASH = [*REDACT_REMOVE_FILTER, Action(name="HashColumn", columns=["email"], options={"keyRef": HASH_KEY_REF})]


def cache_dir() -> Path:
    root = Path(os.environ.get("M4D_CACHE_DIR") or Path.home() / ".cache" / "m4d") / "bench"
    root.mkdir(parents=True, exist_ok=True)
    return root


def dataset(rows: int) -> tuple[Path, Path]:
    """(parquet, arrow IPC) files of `rows` rows, generated once, 1M rows at a time."""
    parquet, arrow = cache_dir() / f"transactions-{rows}.parquet", cache_dir() / f"transactions-{rows}.arrow"
    if not parquet.exists() or not arrow.exists():
        schema = transactions(1).schema
        with (
            pq.ParquetWriter(str(parquet) + ".partial", schema) as pw,
            pa.ipc.new_file(str(arrow) + ".partial", schema) as aw,
        ):
            for start in range(0, rows, CHUNK):
                chunk = transactions(min(CHUNK, rows - start), offset=start)
                pw.write_table(chunk, row_group_size=CHUNK)
                aw.write_table(chunk, max_chunksize=65_536)
        Path(str(parquet) + ".partial").replace(parquet)
        Path(str(arrow) + ".partial").replace(arrow)
    return parquet, arrow


@dataclass
class Running:
    location: str
    pid: int


def _wait_ready(proc: subprocess.Popen[bytes], ready: Path) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise RuntimeError("server did not become ready")
        time.sleep(0.05)
    info: dict[str, object] = json.loads(ready.read_text())
    return info


@contextmanager
def process(args: list[str], ready: Path) -> Iterator[Running]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        info = _wait_ready(proc, ready)
        yield Running(f"grpc://127.0.0.1:{info['port']}", proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr:
            proc.stderr.close()


@contextmanager
def bare_server(source: str, path: Path) -> Iterator[Running]:
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        script = str(Path(__file__).with_name("bare_flight_server.py"))
        with process([sys.executable, script, "--source", source, str(path), "--ready-file", str(ready)], ready) as r:
            yield r


@contextmanager
def module_server(path: Path, fmt: str, actions: list[Action], env: dict[str, str] | None = None) -> Iterator[Running]:
    with tempfile.TemporaryDirectory() as tmp:
        secrets = Path(tmp) / "secrets.yaml"
        secrets.write_text(yaml.safe_dump({HASH_KEY_REF: {"key": "benchmark-hash-key-0001"}}))
        store = DataStore(connection=Connection(kind="file", properties={"path": str(path)}), format=fmt)
        config = ModuleConfig(
            name="bench",
            assets=[ModuleAsset(asset_id="bench/transactions", capability="read", source=store, actions=actions)],
            credentials=CredentialSource(kind="file", path=str(secrets)),
            clients=[ClientGrant.for_token("bench/app", TOKEN, ["bench/transactions"])],
        )
        (Path(tmp) / "module.yaml").write_text(config.dump())
        ready = Path(tmp) / "ready.json"
        args = [M4D, "module", "flight", "--config", str(Path(tmp) / "module.yaml"), "--ready-file", str(ready)]
        if env:
            os.environ.update(env)
        with process(args, ready) as r:
            yield r


@dataclass
class Measured:
    rows: int
    bytes: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def read_all(
    location: str, descriptor: flight.FlightDescriptor, token: str | None = None, streams: int = 2
) -> Measured:
    """Read every endpoint (`streams` at a time); count rows and bytes without keeping batches."""
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    options = flight.FlightCallOptions(headers=headers)
    with flight.FlightClient(location) as client:
        info = client.get_flight_info(descriptor, options)

        def one(endpoint: flight.FlightEndpoint) -> tuple[int, int]:
            rows = size = 0
            for chunk in client.do_get(endpoint.ticket, options):
                rows += chunk.data.num_rows
                size += chunk.data.nbytes
            return rows, size

        start = time.perf_counter()
        with ThreadPoolExecutor(streams) as pool:
            results = list(pool.map(one, info.endpoints))
        seconds = time.perf_counter() - start
    return Measured(sum(r for r, _ in results), sum(b for _, b in results), seconds)


def best_of(runs: int, fn: object) -> Measured:
    results = [fn() for _ in range(runs)]  # type: ignore[operator]
    return min(results, key=lambda m: m.seconds)


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (the module's hash workers, for one)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo += [int(c) for c in task.read_text().split()]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children have used so far (load elsewhere does not count)."""
    total = 0.0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def peak_rss_mb(pid: int) -> float:
    """The sum of the peak resident sizes of a process and its children (an upper bound of their peak)."""
    total = 0.0
    for p in descendants(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total
