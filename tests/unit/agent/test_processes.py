"""The local process supervisor with real child processes (small Python programs)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from m4d.controllers.agent import processes
from m4d.controllers.agent.processes import ProcessSpec, Supervisor

SERVICE = """
import json, sys, time, pathlib
cfg = pathlib.Path(sys.argv[1]).read_text()
if "crash" in cfg:
    sys.exit(3)
pathlib.Path(sys.argv[2]).write_text(json.dumps({"hostname": "127.0.0.1", "port": 4242}))
time.sleep(60)
"""
JOB = """
import sys, pathlib
sys.exit(0 if "ok" in pathlib.Path(sys.argv[1]).read_text() else 1)
"""


def spec(tmp_path: Path, program: str, config: str, kind: str = "Service", key: str = "bp/x/read") -> ProcessSpec:
    script = tmp_path / f"{kind}.py"
    script.write_text(program)
    return ProcessSpec(
        key=key,
        command=(sys.executable, str(script), "{config}", "{ready_file}"),
        workdir=tmp_path / key.replace("/", "_"),
        config_text=config,
        kind=kind,  # type: ignore[arg-type]
    )


@pytest.fixture
def supervisor() -> Iterator[tuple[Supervisor, list[str]]]:
    changes: list[str] = []
    sup = Supervisor(on_change=changes.append)
    yield sup, changes
    sup.stop_all()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def test_service_becomes_ready_with_its_endpoint(supervisor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sup, changes = supervisor
    s = spec(tmp_path, SERVICE, "serve")
    sup.ensure(s)
    wait_for(lambda: sup.state(s.key).phase == "Ready")  # type: ignore[union-attr]
    state = sup.state(s.key)
    assert state is not None and state.endpoint is not None and state.endpoint.port == 4242
    assert changes == [s.key]
    assert (s.workdir / "config.yaml").stat().st_mode & 0o077 == 0  # the config is the module's alone
    sup.ensure(s)  # same spec: nothing restarts
    assert sup.state(s.key) == state


def test_changed_config_restarts_and_stop_ends_it(supervisor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sup, _ = supervisor
    first = spec(tmp_path, SERVICE, "serve v1")
    sup.ensure(first)
    wait_for(lambda: sup.state(first.key).phase == "Ready")  # type: ignore[union-attr]
    second = spec(tmp_path, SERVICE, "serve v2")
    sup.ensure(second)
    wait_for(lambda: sup.state(second.key).phase == "Ready")  # type: ignore[union-attr]
    assert (second.workdir / "config.yaml").read_text() == "serve v2"
    sup.stop(second.key)
    assert sup.state(second.key) is None and sup.running_keys() == set()


def test_a_module_that_reloads_gets_its_new_configuration_without_a_restart(  # type: ignore[no-untyped-def]
    supervisor, tmp_path: Path
) -> None:
    """`reloadsConfig`: the running process stays (same pid, same endpoint) and finds the new file in
    place; a changed command still restarts it, and a module that does not reload is restarted."""
    sup, _ = supervisor
    first = replace(spec(tmp_path, SERVICE, "serve v1"), reloads_config=True)
    sup.ensure(first)
    wait_for(lambda: sup.state(first.key).phase == "Ready")  # type: ignore[union-attr]
    pid = sup.pid(first.key)
    second = replace(first, config_text="serve v2")
    sup.ensure(second)
    assert sup.pid(second.key) == pid and sup.state(second.key).phase == "Ready"  # type: ignore[union-attr]
    assert (second.workdir / "config.yaml").read_text() == "serve v2"
    assert (second.workdir / "config.yaml").stat().st_mode & 0o077 == 0
    assert not list(second.workdir.glob("*.partial"))  # replaced whole, nothing half-written left
    sup.ensure(second)  # unchanged: nothing happens
    assert sup.pid(second.key) == pid
    moved = replace(second, env=(("M4D_EXTRA", "1"),))  # more than the configuration changed
    sup.ensure(moved)
    wait_for(lambda: sup.pid(moved.key) not in (None, pid))
    plain = replace(moved, config_text="serve v3", reloads_config=False)
    restarted = sup.pid(moved.key)
    sup.ensure(plain)
    wait_for(lambda: sup.pid(plain.key) not in (None, restarted))


def test_crashing_service_is_restarted_with_backoff_then_failed(supervisor, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(processes, "RESTART_BASE", 0.05)
    sup, _ = supervisor
    s = spec(tmp_path, SERVICE, "crash")
    sup.ensure(s)
    wait_for(lambda: (sup.state(s.key).restarts or 0) >= 3)  # type: ignore[union-attr]
    state = sup.state(s.key)
    assert state is not None and state.phase == "Failed"
    assert "exited with status 3" in (state.message or "")


def test_jobs_complete_or_fail_after_retries(supervisor, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(processes, "RESTART_BASE", 0.05)
    sup, _ = supervisor
    ok = spec(tmp_path, JOB, "ok", kind="Job", key="bp/x/copy-ok")
    bad = spec(tmp_path, JOB, "bad", kind="Job", key="bp/x/copy-bad")
    sup.ensure(ok)
    sup.ensure(bad)
    wait_for(lambda: sup.state(ok.key).phase == "Completed")  # type: ignore[union-attr]
    wait_for(lambda: sup.state(bad.key).phase == "Failed")  # type: ignore[union-attr]
    assert "after 4 attempts" in (sup.state(bad.key).message or "")  # type: ignore[union-attr]


def test_a_missing_program_fails_with_the_reason(supervisor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sup, _ = supervisor
    s = ProcessSpec(key="bp/x/none", command=("/nonexistent/module",), workdir=tmp_path / "none", config_text="")
    sup.ensure(s)
    wait_for(lambda: sup.state(s.key).phase == "Failed")  # type: ignore[union-attr]
    assert "cannot start /nonexistent/module" in (sup.state(s.key).message or "")  # type: ignore[union-attr]


def test_a_restarted_supervisor_adopts_running_modules(tmp_path: Path) -> None:
    first = Supervisor()
    s = spec(tmp_path, SERVICE, "serve")
    first.ensure(s)
    wait_for(lambda: first.state(s.key).phase == "Ready")  # type: ignore[union-attr]
    pid = first.pid(s.key)
    first.detach_all()  # the agent goes away; the module keeps serving
    second = Supervisor()
    try:
        second.ensure(s)
        wait_for(lambda: second.state(s.key).phase == "Ready")  # type: ignore[union-attr]
        assert second.pid(s.key) == pid
        changed = spec(tmp_path, SERVICE, "serve v2")
        third = Supervisor()
        second.detach_all()
        third.ensure(changed)  # a leftover with another configuration is replaced
        wait_for(lambda: third.state(changed.key).phase == "Ready")  # type: ignore[union-attr]
        assert third.pid(changed.key) != pid
        third.stop_all()
    finally:
        second.stop_all()


def test_removing_a_blueprint_leaves_no_process_or_directory(tmp_path: Path) -> None:
    run = tmp_path / "run" / "ns" / "bp"
    read, write, old = (
        ProcessSpec(
            key=f"ns/bp/{name}",
            command=(sys.executable, str(tmp_path / "service.py"), "{config}", "{ready_file}"),
            workdir=run / name,
            config_text="serve",
        )
        for name in ("read", "write", "old")
    )
    (tmp_path / "service.py").write_text(SERVICE)
    first = Supervisor()
    for s in (read, write, old):
        first.ensure(s)
    wait_for(lambda: all(first.state(s.key).phase == "Ready" for s in (read, write, old)))  # type: ignore[union-attr]
    pids = {s.key: first.pid(s.key) for s in (read, write, old)}
    first.detach_all()  # the agent goes away; its modules serve on, watched by no one

    second = Supervisor()
    try:
        second.ensure(read)  # adopted
        wait_for(lambda: second.state(read.key).phase == "Ready")  # type: ignore[union-attr]
        # An instance the Blueprint no longer has goes, though nothing supervises it any more.
        second.remove("ns/bp/", run, keep={"read", "write"})
        assert gone(pids[old.key]) and not old.workdir.exists()
        assert alive(pids[read.key]) and alive(pids[write.key]) and write.workdir.exists()
        # The Blueprint goes: every process, supervised or not, and every run directory.
        second.remove("ns/bp/", run)
        assert second.running_keys() == set()
        assert all(gone(pid) for pid in pids.values())
        assert not run.exists() and run.parent.exists()
    finally:
        second.stop_all()


def alive(pid: int | None) -> bool:
    return pid is not None and not gone(pid)


def gone(pid: int | None) -> bool:
    """Ended (or a zombie: the test run may be the subreaper its orphans are handed to)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
