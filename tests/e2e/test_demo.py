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
def test_demo_keep_then_down_with_the_hints_it_prints(tmp_path: Path) -> None:
    """As a newcomer runs it: `.venv/bin/m4d demo --keep` in their checkout (m4d not on PATH, the default
    hub `.m4d`), then every command of the closing hints exactly as printed."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    def shell(command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
        assert not check or done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        return done

    hub = tmp_path / ".m4d"
    done = shell(".venv/bin/m4d demo --rows 2000 --keep")
    hints = [line.split("#")[0].strip() for line in done.stdout.split("Try:\n", 1)[1].splitlines() if line.strip()]
    try:
        assert set(services.running(hub)) == {"hub", "sync", "agent-eu-de-1", "agent-eu-fr-1"}
        assert hints[0] == ".venv/bin/m4d get m4dapplications" and hints[-1] == ".venv/bin/m4d down"
        outputs = {hint: shell(hint).stdout for hint in hints[:-1]}
        assert "fraud-detection" in outputs[hints[0]] and "True" in outputs[hints[0]]
        assert "marketing-eu-fr" in outputs[".venv/bin/m4d explain m4dapplication marketing-eu-fr"]
        assert outputs["git --git-dir .m4d/gitops.git log --stat"].startswith("commit ")
        assert outputs[".venv/bin/m4d token fraud-detection"].strip()
        again = shell(".venv/bin/m4d demo", check=False)
        assert again.returncode != 0 and "already running" in again.stderr
    finally:
        down = shell(hints[-1] if hints else ".venv/bin/m4d down")
    assert "stopped" in down.stdout
    assert services.running(hub) == {}
    modules = [int(p.read_text()) for p in hub.rglob("run/**/pid")]
    assert modules and not any(services.alive(pid) for pid in modules)  # the modules were stopped too
