"""`m4d demo` as a newcomer runs it: the flow settles and every policy decision holds on the data read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from m4d.demo import services

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(300)
def test_demo_reads_governed_data(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    done = subprocess.run(
        [sys.executable, "-m", "m4d.cli", "--hub", str(hub), "demo", "--rows", "5000"],
        capture_output=True,
        text=True,
        timeout=280,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "every application settled" in out
    assert "NOT ENFORCED" not in out
    for expected in (
        "name: every value is 'XXXXXXXX'",  # redacted for customer analytics
        "customer_id: keyed digests, no original value",  # hashed for fraud detection
        "contact_email: removed",  # removed for marketing
        "filter \"status = 'paid'\"",  # filtered for marketing, through the copy in eu-fr
        "denies read of hr/employees",  # the intern is denied
        "a valid bearer token is required",  # no token, no data
        "copy by implicit-copy on eu-de-1 then read by arrow-flight on eu-fr-1",
    ):
        assert expected in out, expected
    assert services.running(hub) == {}  # without --keep everything is stopped


@pytest.mark.timeout(300)
def test_demo_keep_then_down(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    base = [sys.executable, "-m", "m4d.cli", "--hub", str(hub)]
    done = subprocess.run([*base, "demo", "--rows", "2000", "--keep"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        assert set(services.running(hub)) == {"hub", "sync", "agent-eu-de-1", "agent-eu-fr-1"}
        listed = subprocess.run([*base, "get", "m4dapplications"], capture_output=True, text=True, check=True).stdout
        assert "fraud-detection" in listed and "True" in listed
        again = subprocess.run([*base, "demo"], capture_output=True, text=True, check=False)
        assert again.returncode != 0 and "already running" in again.stderr
    finally:
        down = subprocess.run([*base, "down"], capture_output=True, text=True, check=True)
    assert "stopped" in down.stdout
    assert services.running(hub) == {}
    modules = [int(p.read_text()) for p in hub.rglob("run/**/pid")]
    assert modules and not any(services.alive(pid) for pid in modules)  # the modules were stopped too
