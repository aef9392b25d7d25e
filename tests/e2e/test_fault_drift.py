"""Changes to the GitOps branch the hub did not make: a hand edit that drops a redaction, a force-push of
an old revision. Each is undone within 10 s, and no protected value is ever served meanwhile."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from m4d.credentials.app_tokens import read_token
from m4d.credentials.local import SecretsFile
from m4d.demo.reader import read_asset
from m4d.demo.setup import submit_applications
from m4d.errors import M4DError
from tests.e2e.conftest import World
from tests.e2e.faults import TX, assert_converged, readable, settle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

REVERTED_WITHIN = 10.0
APP = "customer-analytics"  # reads transactions with its PII.Sensitive columns redacted


def _git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


def _tree(world: World) -> str:
    """The generated folders as the branch has them now (one tree id for all of clusters/)."""
    return _git("--git-dir", str(world.paths.hub / "gitops.git"), "rev-parse", "main:clusters")


def _clone(world: World, tmp: Path) -> Path:
    work = tmp / "clone"
    _git("clone", "--quiet", str(world.paths.hub / "gitops.git"), str(work))
    _git("config", "user.email", "someone@example.org", cwd=work)
    _git("config", "user.name", "someone", cwd=work)
    return work


def _protected(world: World) -> tuple[list[str], set[str]]:
    """The columns the application gets redacted, and every value they hold in the source."""
    state = world.app(APP).status.asset_states[TX]  # type: ignore[union-attr]
    columns = sorted({c for d in state.decisions for a in d.actions if a.name == "RedactColumn" for c in a.columns})
    assert columns, "the application has no redacted column"
    source = pq.read_table(world.paths.hub / "data" / "transactions.parquet", columns=columns)
    values = {str(v) for c in columns for v in source.column(c).to_pylist() if v is not None}
    return columns, values


class Reader:
    """Reads the application's asset over and over, as its workload would, and counts what it saw."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.columns, self.protected = _protected(world)
        self.token = read_token(SecretsFile(world.paths.hub / "secrets.yaml"), "default", APP)
        self.reads = self.failures = 0

    def read(self) -> None:
        # What the modules were told to do: no configuration of the application's modules ever lacks the
        # redaction (the agent never runs decisions the hub did not sign).
        for config in (self.world.paths.hub / "run").glob(f"*/*/*{APP}*/*/config.yaml"):
            text = config.read_text()
            assert "RedactColumn" in text or "implicit-copy" in text, f"{config} runs without its redaction"
        state = self.world.app(APP).status.asset_states[TX]  # type: ignore[union-attr]
        if state.endpoint is None:
            self.failures += 1
            return
        try:
            table = read_asset(state.endpoint, self.token, TX, timeout=5).table
        except (M4DError, OSError, Exception):  # a module being replaced: no data is no leak
            self.failures += 1
            return
        self.reads += 1
        seen = {str(v) for c in self.columns if c in table.column_names for v in table.column(c).to_pylist()}
        leaked = seen & self.protected
        assert not leaked, f"served {len(leaked)} protected values, e.g. {sorted(leaked)[:3]}"


def _until_reverted(world: World, reader: Reader, before: str, since: float) -> float:
    """Read until the branch holds the hub's state again (and a little longer); seconds it took."""
    reverted_at: float | None = None
    while time.monotonic() - since < REVERTED_WITHIN + 20:
        reader.read()
        if reverted_at is None and _tree(world) == before:
            reverted_at = time.monotonic()
        if reverted_at is not None and time.monotonic() - reverted_at > 3:
            break
        time.sleep(0.1)
    assert reverted_at is not None, "the branch was never brought back"
    return reverted_at - since


def test_a_hand_edit_dropping_a_redaction_is_refused_and_reverted(world: World, tmp_path: Path) -> None:
    submit_applications(world.paths, world.say)
    settle(world)
    assert_converged(world)
    before = _tree(world)
    endpoint = world.app(APP).status.asset_states[TX].endpoint  # type: ignore[union-attr]
    pids = {p: p.read_text() for p in (world.paths.hub / "run").glob("*/*/*/*/pid")}
    work = _clone(world, tmp_path)
    edited = []
    for path in sorted((work / "clusters").rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc.get("kind") != "Blueprint" or doc["spec"]["application"]["name"] != APP:
            continue
        for module in doc["spec"]["modules"]:
            for asset in module["assets"]:
                asset["actions"] = [a for a in asset.get("actions", []) if a["name"] != "RedactColumn"]
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        edited.append(path)
    assert edited
    _git("commit", "--quiet", "-am", "show the analysts the names", cwd=work)
    reader = Reader(world)
    pushed = time.monotonic()
    _git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    took = _until_reverted(world, reader, before, pushed)
    print(f"hand edit reverted in {took:.1f}s; {reader.reads} reads, none with a protected value")
    assert took <= REVERTED_WITHIN, f"reverted after {took:.1f}s"
    assert reader.reads > 0 and reader.failures == 0  # the last signed version served all along
    assert world.app(APP).status.asset_states[TX].endpoint == endpoint  # type: ignore[union-attr]
    assert {p: p.read_text() for p in pids} == pids  # no module was restarted
    log = _git("--git-dir", str(world.paths.hub / "gitops.git"), "log", "-1", "--format=%B", "main")
    assert "changed outside m4d" in log
    world.wait_settled()
    assert_converged(world)


def test_a_force_push_of_an_old_revision_is_reverted(world: World, tmp_path: Path) -> None:
    old = _git("--git-dir", str(world.paths.hub / "gitops.git"), "rev-parse", "main")  # members only, no Blueprint
    submit_applications(world.paths, world.say)
    settle(world)
    assert_converged(world)
    before = _tree(world)
    work = _clone(world, tmp_path)
    reader = Reader(world)
    pushed = time.monotonic()
    _git("push", "--quiet", "--force", "origin", f"{old}:refs/heads/main", cwd=work)
    took = _until_reverted(world, reader, before, pushed)
    print(f"force-push reverted in {took:.1f}s; {reader.reads} reads, none with a protected value")
    assert took <= REVERTED_WITHIN, f"reverted after {took:.1f}s"
    world.wait_settled()
    assert readable(world, APP) == 5_000
    assert_converged(world)
