"""The agent's local-process path with its fork server and the real Flight module: modules forked, each
application's module serving only its own grant, a crashed module restarted, modules adopted after an agent
restart, and no fork server left behind when an agent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore, Endpoint
from m4d.controllers.agent import processes
from m4d.controllers.agent.processes import ProcessSpec, Supervisor
from m4d.credentials import CredentialSource
from m4d.modules.config import ClientGrant, ModuleConfig
from m4d.modules.forkserver import ForkServer, address_for
from m4d.modules.forkserver.instance import holder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FLIGHT = ("m4d", "module", "flight", "--config", "{config}", "--ready-file", "{ready_file}")


def wait_for(check: Callable[[], object], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.05)


def spec(tmp_path: Path, app: str) -> ProcessSpec:
    """The read module of application `app`, granted to its token alone."""
    data = tmp_path / "people.parquet"
    if not data.exists():
        pq.write_table(_people(), data)
    store = DataStore(connection=Connection(kind="file", properties={"path": str(data)}), format="parquet")
    config = ModuleConfig(
        name=f"{app}-read",
        assets=[
            ModuleAsset(
                asset_id="hr/people",
                capability="read",
                source=store,
                actions=[Action(name="RedactColumn", columns=["name"])],
            )
        ],
        credentials=CredentialSource(kind="file", path=str(tmp_path / "secrets.yaml")),
        clients=[ClientGrant.for_token(f"default/{app}", f"token-{app}", ["hr/people"])],
    )
    (tmp_path / "secrets.yaml").write_text("{}\n")
    return ProcessSpec(
        key=f"default/{app}/read",
        command=FLIGHT,
        workdir=tmp_path / "run" / "default" / app / "read",
        config_text=config.dump(),
    )


def _people() -> object:
    import pyarrow as pa  # noqa: PLC0415

    return pa.table({"id": list(range(100)), "name": [f"n{i}" for i in range(100)]})


def ready(sup: Supervisor, s: ProcessSpec) -> Endpoint:
    wait_for(lambda: (state := sup.state(s.key)) is not None and state.phase == "Ready", f"{s.key} ready")
    state = sup.state(s.key)
    assert state is not None and state.endpoint is not None
    return state.endpoint


def rows(endpoint: Endpoint, token: str) -> int:
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    with flight.FlightClient(f"grpc://{endpoint.hostname}:{endpoint.port}") as client:
        info = client.get_flight_info(flight.FlightDescriptor.for_path("hr/people"), options)
        return sum(client.do_get(e.ticket, options).read_all().num_rows for e in info.endpoints)


def test_forked_modules_isolated_restarted_and_adopted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "RESTART_BASE", 0.05)
    first = Supervisor(fork_server=ForkServer(address_for(tmp_path / "run")))
    a, b = spec(tmp_path, "app-a"), spec(tmp_path, "app-b")
    try:
        first.ensure(a)
        first.ensure(b)
        at_a, at_b = ready(first, a), ready(first, b)
        server = first.fork_server.pid if first.fork_server else None
        pid_a, pid_b = first.pid(a.key), first.pid(b.key)
        assert server is not None and pid_a and pid_b
        assert {psutil.Process(pid_a).ppid(), psutil.Process(pid_b).ppid()} == {server}

        # One process per application, each knowing only its own application's token.
        assert rows(at_a, "token-app-a") == 100 and rows(at_b, "token-app-b") == 100
        with pytest.raises(flight.FlightUnauthenticatedError):
            rows(at_b, "token-app-a")

        # A crashed module is forked again (its status says how it ended) and serves again.
        os.kill(pid_a, signal.SIGKILL)
        wait_for(lambda: first.pid(a.key) not in (None, pid_a), "a restarted module")
        at_a = ready(first, a)
        assert (first.state(a.key).restarts or 0) >= 1  # type: ignore[union-attr]
        assert rows(at_a, "token-app-a") == 100
        pid_a = first.pid(a.key)
        assert psutil.Process(pid_a or 0).ppid() == server

        # The agent goes away: its fork server ends with it, the modules serve on...
        first.detach_all()
        wait_for(lambda: gone(server), "the fork server ending with its agent", 30)
        assert rows(at_b, "token-app-b") == 100
        # ...and the next agent adopts them: same processes, same endpoints.
        second = Supervisor(fork_server=ForkServer(address_for(tmp_path / "run")))
        try:
            second.ensure(a)
            second.ensure(b)
            assert (ready(second, a), ready(second, b)) == (at_a, at_b)
            assert (second.pid(a.key), second.pid(b.key)) == (pid_a, pid_b)
            # The adopted module still reports a crash and is restarted, now by the new agent's server.
            os.kill(pid_b, signal.SIGKILL)
            wait_for(lambda: second.pid(b.key) not in (None, pid_b), "a restarted module")
            ready(second, b)
            assert psutil.Process(second.pid(b.key) or 0).ppid() == second.fork_server.pid  # type: ignore[union-attr]
        finally:
            second.stop_all()
        assert holder(a.workdir) is None and holder(b.workdir) is None  # stopped for good
    finally:
        first.stop_all()


AGENT = """
import sys, time
from pathlib import Path
from m4d.controllers.agent.processes import ProcessSpec, Supervisor
from m4d.modules.forkserver import ForkServer, address_for
spec = ProcessSpec(key=sys.argv[1], command=tuple(sys.argv[2].split()), workdir=Path(sys.argv[3]),
                   config_text=Path(sys.argv[4]).read_text())
sup = Supervisor(fork_server=ForkServer(address_for(Path(sys.argv[5]))))
sup.ensure(spec)
while sup.state(spec.key).phase != "Ready":
    time.sleep(0.05)
print(sup.pid(spec.key), sup.fork_server.pid, flush=True)
time.sleep(600)
"""


def test_killing_the_agent_leaves_no_fork_server_and_its_modules_are_adopted(tmp_path: Path) -> None:
    s = spec(tmp_path, "app-c")
    (tmp_path / "config.yaml").write_text(s.config_text)
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, s.key, " ".join(FLIGHT), str(s.workdir), str(tmp_path / "config.yaml"),
         str(tmp_path / "run")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert agent.stdout is not None
    module, server = (int(word) for word in agent.stdout.readline().split())
    agent.stdout.close()
    agent.kill()  # no chance to clean up
    agent.wait()
    wait_for(lambda: gone(server), "the fork server ending with its agent", 30)
    assert psutil.Process(module).is_running() and holder(s.workdir) == module  # the module serves on
    sup = Supervisor(fork_server=ForkServer(address_for(tmp_path / "run")))
    try:
        sup.ensure(s)
        rows(ready(sup, s), "token-app-c")
        assert sup.pid(s.key) == module
    finally:
        sup.stop_all()
    assert gone(module)


def test_a_blueprint_removed_while_its_agent_was_down_leaves_nothing(tmp_path: Path) -> None:
    s = spec(tmp_path, "app-d")
    (tmp_path / "config.yaml").write_text(s.config_text)
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, s.key, " ".join(FLIGHT), str(s.workdir), str(tmp_path / "config.yaml"),
         str(tmp_path / "run")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert agent.stdout is not None
    module, _ = (int(word) for word in agent.stdout.readline().split())
    agent.stdout.close()
    agent.kill()
    agent.wait()
    # The next agent finalizes the Blueprint without ever having supervised its module: the instance lock
    # names the process, which is stopped; the run directory (its configuration names the token) goes too.
    Supervisor().remove("default/app-d/", s.workdir.parent)
    wait_for(lambda: gone(module), "the module stopped", 30)
    assert not s.workdir.parent.exists()


def gone(pid: int) -> bool:
    """Ended (a zombie too: the test run may be the subreaper its orphans are handed to)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
