"""The embedded store on a really full disk: writes fail as temporary (StoreFull), nothing is damaged, and
they succeed again once there is room."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testenv.small_disk import SmallDisk

pytestmark = pytest.mark.integration

# Runs inside the small disk's namespace: one command per line ("write N" / "check"), one JSON answer each.
_STORE = r"""
import json, sqlite3, sys
from m4d.cluster.local import LocalCluster
from m4d.errors import M4DError
from tests.factories import application
store = LocalCluster(sys.argv[1], name="hub")
made = 0
for line in sys.stdin:
    command = line.split()
    if command[0] == "write":
        ok, errors = 0, []
        for _ in range(int(command[1])):
            made += 1
            try:
                store.create(application(f"app-{made}"))
                ok += 1
            except M4DError as exc:
                errors.append([type(exc).__name__, exc.reason, str(exc)[:300]])
        print(json.dumps({"ok": ok, "errors": errors}), flush=True)
    elif command[0] == "check":
        conn = sqlite3.connect(sys.argv[1])
        print(json.dumps({"check": conn.execute("PRAGMA integrity_check").fetchall()[0][0],
                          "count": len(store.list(type(application())).items)}), flush=True)
"""


def test_a_full_disk_is_temporary_for_the_store(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    disk_dir = tmp_path / "disk"
    disk_dir.mkdir()
    with SmallDisk(disk_dir, "2m") as disk:
        proc = subprocess.Popen(
            disk.command(sys.executable, "-c", _STORE, str(disk_dir / "hub.db")),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root,
            env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip

        def ask(command: str) -> dict[str, object]:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line, f"the store process exited ({proc.wait()})"
            answer: dict[str, object] = json.loads(line)
            return answer

        try:
            assert ask("write 5") == {"ok": 5, "errors": []}
            disk.fill()
            full = ask("write 200")
            errors = full["errors"]
            assert isinstance(errors, list) and errors, "a full disk refused no write"
            assert {tuple(e[:2]) for e in errors} == {("TemporaryError", "StoreFull")}, errors
            assert "full" in errors[0][2]
            disk.free()
            assert ask("write 5") == {"ok": 5, "errors": []}
            checked = ask("check")
            assert checked["check"] == "ok"
            assert checked["count"] == 10 + int(str(full["ok"]))
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()
