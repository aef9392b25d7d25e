"""m4d.demo.services: every service this process started is reaped when stopped, even one it had to kill.

An un-reaped child is a zombie while the process lives, and its Popen says "subprocess N is still
running" when the interpreter exits: after the test run, not in any test. So the last test runs a real
`m4d` service from a separate interpreter in development mode and reads what that interpreter says as it
exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m4d.demo import services
from tests.testenv.reaped import unreaped

SERVICE = services.Service("hub", ("hub", "run", "--no-gitops"))


def _zombie_or_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _wait_until_running(hub: Path, pid: int) -> None:
    log = hub / "logs" / "hub.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and services.alive(pid) and not log.read_bytes():
        time.sleep(0.05)  # SIGTERM before Python installs its handlers would stop it at once
    assert services.alive(pid), log.read_text()


@pytest.mark.timeout(120)
def test_a_service_that_must_be_killed_is_reaped(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    pid = services.start(hub, SERVICE)
    _wait_until_running(hub, pid)
    assert services.stop_all(hub, timeout=0) == ["hub"]  # no grace: SIGTERM, then SIGKILL at once
    assert pid not in services._CHILDREN
    assert not _zombie_or_alive(pid)
    assert services.running(hub) == {}


@pytest.mark.timeout(120)
def test_a_service_without_its_pid_file_is_stopped_and_reaped_too(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    pid = services.start(hub, SERVICE)
    _wait_until_running(hub, pid)
    (hub / "pids" / "hub.pid").unlink()  # replaced or removed: the process is still ours
    assert services.stop_all(hub, timeout=5) == []
    assert not _zombie_or_alive(pid)


SCRIPT = """
import sys, time
from pathlib import Path
from m4d.demo import services
from tests.testenv.reaped import unreaped
hub = Path(sys.argv[1])
pid = services.start(hub, services.Service("hub", ("hub", "run", "--no-gitops")))
deadline = time.monotonic() + 60
while time.monotonic() < deadline and not (hub / "logs" / "hub.log").read_bytes():
    time.sleep(0.05)
services.stop_all(hub, timeout=0)
"""


@pytest.mark.timeout(120)
def test_nothing_is_left_for_the_interpreter_to_warn_about_at_exit(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "always::ResourceWarning", "-c", SCRIPT, str(tmp_path / "hub")],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr, done.stderr
    assert "still running" not in done.stderr, done.stderr


def test_the_end_of_the_run_finds_a_popen_nobody_waited_for() -> None:
    """The session's own check (tests/testenv/reaped.py) would fail the run for what the tests above avoid:
    a process that ended, its Popen still holding no exit status."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not any(f"pid {child.pid} " in line for line in unreaped())  # running: not (yet) a leak
        os.kill(child.pid, signal.SIGKILL)  # as stop_all used to: killed, never waited for
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(f"pid {child.pid} (sleep 30)" in x for x in unreaped()):
            time.sleep(0.05)
        assert any(f"pid {child.pid} (sleep 30)" in line for line in unreaped())
    finally:
        child.kill()
        child.wait()
    assert not any(f"pid {child.pid} " in line for line in unreaped())
