"""What kubectl users expect of `m4d`: version, get -w, wait, get --cluster, and output to a file or pipe
that is never wrapped or cut at 80 columns."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from m4d import __version__
from m4d.api import Blueprint, M4DApplication
from m4d.api.application import M4DApplicationStatus
from m4d.api.blueprint import BlueprintSpec
from m4d.api.meta import Condition
from m4d.api.plotter import AppRef
from m4d.cli.main import cli
from m4d.cluster.local import LocalCluster
from tests.factories import application

LONG = "Fraud Detection " + " ".join(f"word{i}" for i in range(40))  # ~300 characters, with spaces


def app(name: str, intent: str = "Fraud Detection") -> M4DApplication:
    return application(name, intent=intent, assets=("finance/transactions",))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Path, LocalCluster]]:
    folder = tmp_path / "hub"
    folder.mkdir()
    store = LocalCluster(folder / "hub.db", name="hub")
    yield folder, store
    store.close()


def m4d(hub_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--hub", str(hub_dir), *args])


def set_ready(store: LocalCluster, name: str, status: str, reason: str = "Ready", message: str = "") -> None:
    current = store.get(M4DApplication, name, "default")
    current.status = M4DApplicationStatus(
        ready=status == "True", conditions=[Condition(type="Ready", status=status, reason=reason, message=message)]
    )
    store.update_status(current)


def test_version() -> None:
    result = CliRunner().invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.output.startswith(f"m4d {__version__} (Python ")


def test_output_to_a_pipe_is_never_wrapped(hub: tuple[Path, LocalCluster], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, store = hub
    store.create(app("a-rather-long-application-name-for-a-table", intent=LONG))
    set_ready(store, "a-rather-long-application-name-for-a-table", "False", "Waiting", "x" * 150)
    monkeypatch.setenv("COLUMNS", "80")  # what a terminal of 80 columns would say; a pipe is not one
    table = m4d(folder, "get", "m4dapplications", "-o", "wide")  # the runner's output is not a terminal
    lines = table.output.splitlines()
    assert len(lines) == 2, table.output  # header and one row: no column wrapped onto a second line
    assert LONG in lines[1] and "…" not in table.output
    described = m4d(folder, "describe", "m4dapp", "a-rather-long-application-name-for-a-table").output
    assert f"intent: {LONG}" in described  # the YAML line is whole
    assert "x" * 150 in described  # so is the condition's message
    assert f"intent: {LONG}\n" in m4d(folder, "get", "m4dapplications", "-o", "yaml").output


def test_get_watch_prints_each_change_as_it_happens(hub: tuple[Path, LocalCluster]) -> None:
    folder, store = hub
    store.create(app("first"))
    watcher = subprocess.Popen(
        [sys.executable, "-m", "m4d.cli", "--hub", str(folder), "get", "m4dapplications", "-w", "--timeout", "60s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().split()[:2] == ["NAME", "READY"]
        assert watcher.stdout.readline().split()[0] == "first"  # the listing, then it waits for changes
        store.create(app("second"))
        assert watcher.stdout.readline().split()[0] == "second"  # a pipe gets it at once, not at exit
        set_ready(store, "first", "True")
        row = watcher.stdout.readline().split()
        assert row[:2] == ["first", "True"]
    finally:
        watcher.terminate()
        watcher.communicate(timeout=30)


def test_get_watch_stops_after_its_timeout(hub: tuple[Path, LocalCluster]) -> None:
    folder, _ = hub
    started = time.monotonic()
    result = m4d(folder, "get", "m4dapplications", "-w", "--timeout", "1s")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["NAME", "READY", "INTENT", "AGE"]
    assert time.monotonic() - started < 30


def test_wait_for_a_condition(hub: tuple[Path, LocalCluster]) -> None:
    folder, store = hub
    store.create(app("notebook"))
    later = threading.Timer(0.5, set_ready, args=(store, "notebook", "True"))
    later.start()
    try:
        result = m4d(folder, "wait", "--for=condition=Ready", "m4dapplication/notebook", "--timeout", "60s")
    finally:
        later.join()
    assert result.exit_code == 0, result.output
    assert result.output == "m4dapplication.app.m4d.dev/notebook condition met\n"
    again = m4d(folder, "wait", "--for", "condition=ready", "m4dapp/notebook", "--timeout", "5s")  # already met
    assert again.exit_code == 0, again.output


def test_wait_times_out_saying_what_the_resource_reports(hub: tuple[Path, LocalCluster]) -> None:
    folder, store = hub
    store.create(app("notebook"))
    set_ready(store, "notebook", "False", "PolicyDenied", "every asset was denied")
    result = m4d(folder, "wait", "--for=condition=Ready", "m4dapplication/notebook", "--timeout", "1s")
    assert result.exit_code == 1
    assert "timed out waiting for condition Ready=True on m4dapplications/notebook" in result.output
    assert "Ready=False (PolicyDenied: every asset was denied)" in result.output
    missing = m4d(folder, "wait", "--for=condition=Ready", "m4dapplication/nothing", "--timeout", "0.5")
    assert missing.exit_code == 1 and "not found" in missing.output
    bad = m4d(folder, "wait", "--for=ready", "m4dapplication/notebook")
    assert bad.exit_code == 2 and "condition=TYPE" in bad.output


def test_wait_for_delete(hub: tuple[Path, LocalCluster]) -> None:
    folder, store = hub
    store.create(app("notebook"))
    later = threading.Timer(0.5, store.delete, args=(M4DApplication, "notebook", "default"))
    later.start()
    try:
        result = m4d(folder, "wait", "--for=delete", "m4dapplication/notebook", "--timeout", "60s")
    finally:
        later.join()
    assert result.exit_code == 0, result.output
    assert "notebook deleted" in result.output


def test_get_blueprints_of_a_member(hub: tuple[Path, LocalCluster]) -> None:
    folder, _ = hub
    (folder / "members").mkdir()
    member = LocalCluster(folder / "members" / "eu-de-1.db", name="eu-de-1")
    ref = AppRef(name="nb", namespace="default", uid="u1", generation=1)
    member.create(
        Blueprint.new(
            "default-nb",
            "m4d-blueprints",
            spec=BlueprintSpec(cluster="eu-de-1", application=ref, plotter="default/nb", modules=[]),
        )
    )
    member.close()
    result = m4d(folder, "get", "blueprints", "--cluster", "eu-de-1")
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"] and row.split()[:2] == ["m4d-blueprints", "default-nb"]
    hub_only = m4d(folder, "get", "blueprints")
    assert "No blueprints found" in hub_only.output  # the hub holds none: they live on members
    unknown = m4d(folder, "get", "blueprints", "--cluster", "eu-fr-1")
    assert unknown.exit_code == 2 and "no member cluster eu-fr-1" in unknown.output and "eu-de-1" in unknown.output
    described = m4d(folder, "describe", "blueprint", "default-nb", "-n", "m4d-blueprints", "--cluster", "eu-de-1")
    assert described.exit_code == 0 and "plotter: default/nb" in described.output
