"""The agent controller on embedded stores: Blueprint → supervised module → report on the hub."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from m4d.api import Blueprint, BlueprintReport
from m4d.api.blueprint import BlueprintModule, BlueprintSpec, ModuleAsset, spec_hash
from m4d.api.common import Connection, DataStore, Interface
from m4d.api.module import ModuleDeployment
from m4d.api.plotter import AppRef
from m4d.cluster.local import LocalCluster
from m4d.controllers.agent.agent import AgentSettings, BlueprintAgent, report_namespace
from m4d.controllers.agent.heartbeat import beat
from m4d.credentials.app_tokens import ensure_token_in_file, read_token
from m4d.credentials.local import SecretsFile
from m4d.credentials.source import CredentialSource
from m4d.errors import NotFoundError
from m4d.runtime.manager import Manager
from tests.factories import member

# Stands in for a module binary at the process boundary: it reads the configuration the agent wrote
# and announces an endpoint the way modules do (the real modules are exercised end to end elsewhere).
MODULE = """
import json, sys, time, pathlib, yaml
config = yaml.safe_load(pathlib.Path(sys.argv[1]).read_text())
pathlib.Path(sys.argv[2]).write_text(json.dumps({"hostname": "127.0.0.1", "port": 45000}))
time.sleep(120)
"""


def blueprint(tmp_path: Path) -> Blueprint:
    script = tmp_path / "module.py"
    script.write_text(MODULE)
    store = DataStore(connection=Connection(kind="file", properties={"path": "/data/tx.parquet"}), format="parquet")
    return Blueprint.new(
        "default-nb",
        "m4d-blueprints",
        spec=BlueprintSpec(
            cluster="m1",
            application=AppRef(name="nb", namespace="default", uid="u1", generation=1),
            plotter="default/nb",
            modules=[
                BlueprintModule(
                    name="read",
                    module="arrow-flight",
                    deployment=ModuleDeployment(command=[sys.executable, str(script), "{config}", "{ready_file}"]),
                    assets=[
                        ModuleAsset(
                            asset_id="finance/tx",
                            capability="read",
                            source=store,
                            api=Interface(protocol="fybrik-arrow-flight"),
                        )
                    ],
                )
            ],
        ),
    )


def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[LocalCluster, LocalCluster, BlueprintAgent, Path]]:
    hub = LocalCluster(tmp_path / "hub.db", name="hub")
    store = LocalCluster(tmp_path / "m1.db", name="m1")
    hub.create(member("m1"))
    secrets = tmp_path / "secrets.yaml"
    settings = AgentSettings("m1", tmp_path / "run", CredentialSource(kind="file", path=str(secrets)))
    agent = BlueprintAgent(store, hub=hub, settings=settings)
    manager = Manager([agent])
    stop = threading.Event()
    thread = threading.Thread(target=manager.run, args=(stop,))
    thread.start()
    yield hub, store, agent, secrets
    stop.set()
    thread.join(15)
    agent.supervisor.stop_all()
    hub.close()
    store.close()


def report(hub: LocalCluster) -> BlueprintReport | None:
    try:
        return hub.get(BlueprintReport, "default-nb", report_namespace("m1"))
    except NotFoundError:
        return None


def test_blueprint_runs_reports_and_goes(running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub, store, agent, secrets = running
    ensure_token_in_file(secrets, "default", "nb")
    bp = store.create(blueprint(tmp_path))
    wait_for(lambda: (r := report(hub)) is not None and r.spec.phase == "Ready")
    r = report(hub)
    assert r is not None
    assert r.spec.blueprint.spec_hash == spec_hash(bp.spec)
    assert r.spec.modules["read"].endpoint is not None and r.spec.modules["read"].endpoint.port == 45000
    status = store.get(Blueprint, bp.name, bp.namespace).status
    assert status is not None and status.conditions[0].reason == "ModulesReady"
    # The configuration grants the application's token by digest; the token itself is not in it.
    config = (tmp_path / "run" / "m4d-blueprints" / "default-nb" / "read" / "config.yaml").read_text()
    token = read_token(SecretsFile(secrets), "default", "nb")
    assert token not in config and "tokenSha256" in config

    store.delete(Blueprint, bp.name, bp.namespace)
    wait_for(lambda: report(hub) is None)
    wait_for(lambda: agent.supervisor.running_keys() == set())
    with pytest.raises(NotFoundError):
        store.get(Blueprint, bp.name, bp.namespace)


def test_waits_for_the_application_token(running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub, store, _, secrets = running
    store.create(blueprint(tmp_path))
    wait_for(lambda: (r := report(hub)) is not None and r.spec.phase == "Pending")
    r = report(hub)
    assert r is not None and "waiting for the access token of application default/nb" in str(r.spec.modules["read"])
    ensure_token_in_file(secrets, "default", "nb")
    wait_for(lambda: (r := report(hub)) is not None and r.spec.phase == "Ready")


def test_heartbeat_stamps_the_member(tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db")
    assert not beat(hub, "m1")
    hub.create(member("m1"))
    assert beat(hub, "m1")
    status = hub.get(type(member()), "m1").status
    assert status is not None and status.last_heartbeat is not None and status.agent_version
    hub.close()
