"""Shared by the Argo CD integration tests: a repository to commit whole trees to, and Argo CD's verdicts."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.testenv.argocd import ArgoCD

CLUSTER = "edge"  # the member cluster name the tests' folders are rendered for
TIMEOUT = 120.0


class Repo:
    """A bare repository (served by `git daemon` in the tests) and a work tree that commits whole trees."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "gitops.git"
        self.work = root / "work"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(self.work)], check=True)

    def commit(self, files: dict[str, bytes], message: str) -> str:
        for old in self.work.rglob("*.yaml"):
            old.unlink()
        for path, content in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        git = ["git", "-C", str(self.work), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", message], check=True)
        subprocess.run([*git, "push", "-q", str(self.bare), "HEAD:main"], check=True)
        return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def synced_at(app: dict[str, Any], revision: str) -> bool:
    """The Application is Synced at `revision` and its last sync operation, at that revision, succeeded."""
    status = app.get("status") or {}
    sync = status.get("sync") or {}
    op = status.get("operationState") or {}
    return (
        sync.get("status") == "Synced"
        and sync.get("revision") == revision
        and op.get("phase") == "Succeeded"
        and (op.get("syncResult") or {}).get("revision") == revision
    )


def wait_application(argocd: ArgoCD, name: str, done: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Poll the Application until `done(app)` ({} once it is gone); fail with its status and Argo CD's logs."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        argocd.check_running()
        app = argocd.application(name) or {}
        if done(app):
            return app
        if time.monotonic() > deadline:
            status = app.get("status") or {}
            unsynced = [r for r in status.get("resources") or [] if r.get("status") != "Synced"]
            raise AssertionError(
                f"{what}: not reached in {TIMEOUT:g}s; sync {status.get('sync')}, operationState "
                f"{status.get('operationState')}, conditions {status.get('conditions')}, resources not "
                f"Synced {unsynced}\n{argocd.log_tails()}"
            )
        time.sleep(0.2)
