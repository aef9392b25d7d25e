"""The fork server: module processes and hash workers forked from one process that loaded their code once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.credentials import CredentialSource
from m4d.modules.config import ClientGrant, ModuleConfig
from m4d.modules.forkserver import ForkServer, address_for, instance, wire
from m4d.modules.forkserver import client as forkclient

from .conftest import people

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    started = ForkServer(address_for(tmp_path_factory.mktemp("agent")))
    assert started.wait_ready(), "the fork server did not load the modules' code"
    yield started
    started.close()


def wait_for(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)


def instance_dir(tmp_path: Path, secrets_file: Path, token: str, actions: list[Action], rows: int = 1000) -> Path:
    data = tmp_path / "people.parquet"
    if not data.exists():
        pq.write_table(people(rows), data)
    store = DataStore(connection=Connection(kind="file", properties={"path": str(data)}), format="parquet")
    config = ModuleConfig(
        name="forked",
        assets=[ModuleAsset(asset_id="hr/people", capability="read", source=store, actions=actions)],
        credentials=CredentialSource(kind="file", path=str(secrets_file)),
        clients=[ClientGrant.for_token(f"ns/{token}", token, ["hr/people"])],
    )
    where = tmp_path / token
    where.mkdir()
    (where / "config.yaml").write_text(config.dump())
    return where


def spawn(server: ForkServer, where: Path) -> int:
    config, ready = str(where / "config.yaml"), str(where / "ready.json")
    argv = ["m4d", "module", "flight", "--config", config, "--ready-file", ready]
    env = {**os.environ, instance.ENV: str(where), forkclient.ADDRESS_ENV: server.address or ""}
    return server.spawn(argv, where, env, where / "module.log")


def read(where: Path, token: str) -> int:
    port = json.loads((where / "ready.json").read_text())["port"]
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    with flight.FlightClient(f"grpc://127.0.0.1:{port}") as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_path("hr/people"), options)
        return sum(client.do_get(e.ticket, options).read_all().num_rows for e in info.endpoints)


def test_the_server_loads_the_modules_code_and_stays_single_threaded(server: ForkServer) -> None:
    # A fork copies only the calling thread: with any other thread running, a lock it held would stay
    # locked forever in the child. Nothing the server imports may start one.
    assert server.loaded["threads"] == 1
    assert psutil.Process(server.loaded["pid"]).num_threads() == 1


def test_a_forked_module_serves_shares_its_pages_and_reports_its_exit(
    server: ForkServer, tmp_path: Path, secrets_file: Path
) -> None:
    where = instance_dir(tmp_path, secrets_file, "token-a", [Action(name="RemoveColumn", columns=["ssn"])])
    pid = spawn(server, where)
    wait_for((where / "ready.json").exists, "the module ready")
    assert read(where, "token-a") == 1000
    process = psutil.Process(pid)
    assert process.ppid() == server.pid  # forked, not a new interpreter
    assert " ".join(process.cmdline()).startswith(f"m4d module flight --config {where}")  # its own, in ps
    assert os.getpgid(pid) == pid != os.getpgid(server.pid or 0)  # its own session: an agent's stop stops it alone
    assert instance.holder(where) == pid and (where / "pid").read_text() == str(pid)
    memory = process.memory_full_info()
    # The interpreter, pyarrow and the module code were loaded by the server: most of what the module maps
    # is shared with it, and its proportional share is far below a process that loaded them itself.
    assert memory.uss < memory.rss / 2, memory
    os.kill(pid, signal.SIGTERM)
    assert server.exit_code(pid, wait=30) == 0  # stopped cleanly, and the agent hears of it


def test_an_instance_never_runs_twice(server: ForkServer, tmp_path: Path, secrets_file: Path) -> None:
    where = instance_dir(tmp_path, secrets_file, "token-b", [])
    first = spawn(server, where)
    wait_for((where / "ready.json").exists, "the first process ready")
    second = spawn(server, where)
    assert server.exit_code(second, wait=30) == 1
    assert f"already runs (pid {first})" in (where / "module.log").read_text()
    assert psutil.pid_exists(first) and instance.holder(where) == first
    os.kill(first, signal.SIGKILL)
    assert server.exit_code(first, wait=30) == -signal.SIGKILL
    assert instance.holder(where) is None  # the kernel let go of the lock with the process


def test_hash_workers_come_from_the_server_and_end_with_their_module(
    server: ForkServer, tmp_path: Path, secrets_file: Path
) -> None:
    hashed = [Action(name="HashColumn", columns=["email"], options={"keyRef": "m4d/hash-key"})]
    where = instance_dir(tmp_path, secrets_file, "token-c", hashed, rows=40_000)  # large enough for the workers
    pid = spawn(server, where)
    wait_for((where / "ready.json").exists, "the module ready")
    before = {p.pid for p in psutil.Process(server.pid).children()}
    assert read(where, "token-c") == 40_000
    workers = [p for p in psutil.Process(server.pid).children() if p.pid not in before | {pid}]
    assert workers, "no hash worker was forked by the server"
    for worker in workers:
        assert worker.memory_full_info().uss < worker.memory_info().rss / 2  # shares the server's numpy, pyarrow
        assert os.getpgid(worker.pid) != os.getpgid(pid)  # not in the module's group, yet...
    os.kill(pid, signal.SIGKILL)
    _gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "hash workers outlived their module"  # ...they end when it hangs up


def test_a_server_whose_agent_ended_while_it_loaded_exits_quietly() -> None:
    # The agent may stop (a damaged store, Ctrl-C) before its server has loaded: the server then ends
    # without a traceback in the agent's log.
    ours, theirs = wire.pair()
    server = subprocess.Popen(
        [sys.executable, "-c", forkclient.MAIN, str(theirs.fileno()), ""],
        pass_fds=(theirs.fileno(),),
        stderr=subprocess.PIPE,
    )
    theirs.close()
    ours.close()
    _, err = server.communicate(timeout=120)
    assert server.returncode == 0 and b"Traceback" not in err, err.decode(errors="replace")
