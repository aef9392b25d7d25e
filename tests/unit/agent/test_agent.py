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
from m4d.credentials.signing import SIGNATURE_ANNOTATION, ensure_signing_key_in_file, sign
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


def signed(bp: Blueprint, secrets: Path) -> Blueprint:
    """As the hub renders it: signed with the member's key (minted into the secrets file)."""
    key = ensure_signing_key_in_file(secrets, "m1")
    signature = sign(key, "m1", bp.metadata.namespace or "default", bp.name, bp.spec)
    bp.metadata.annotations = {**bp.metadata.annotations, SIGNATURE_ANNOTATION: signature}
    return bp


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
    bp = store.create(signed(blueprint(tmp_path), secrets))
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
    store.create(signed(blueprint(tmp_path), secrets))
    wait_for(lambda: (r := report(hub)) is not None and r.spec.phase == "Pending")
    r = report(hub)
    assert r is not None and "waiting for the access token of application default/nb" in str(r.spec.modules["read"])
    ensure_token_in_file(secrets, "default", "nb")
    wait_for(lambda: (r := report(hub)) is not None and r.spec.phase == "Ready")


def test_a_blueprint_the_hub_did_not_sign_runs_nothing(running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub, store, agent, secrets = running
    ensure_token_in_file(secrets, "default", "nb")
    ensure_signing_key_in_file(secrets, "m1")
    forged = blueprint(tmp_path)
    forged.metadata.annotations = {SIGNATURE_ANNOTATION: "hmac-sha256:" + "0" * 64}
    store.create(forged)
    wait_for(lambda: (r := report(hub)) is not None and r.spec.phase == "Failed")
    r = report(hub)
    assert r is not None and "changed outside the hub" in r.spec.errors[0] and "nothing of it runs" in r.spec.errors[0]
    assert agent.supervisor.running_keys() == set()
    assert not (tmp_path / "run" / "m4d-blueprints" / "default-nb" / "read" / "config.yaml").exists()


def test_a_hand_edit_keeps_the_last_signed_version_running(running, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub, store, agent, secrets = running
    ensure_token_in_file(secrets, "default", "nb")
    bp = store.create(signed(blueprint(tmp_path), secrets))
    wait_for(lambda: (r := report(hub)) is not None and r.spec.phase == "Ready")
    config = tmp_path / "run" / "m4d-blueprints" / "default-nb" / "read" / "config.yaml"
    before, pid = config.read_text(), agent.supervisor.pid("m4d-blueprints/default-nb/read")
    # Someone with write access to Git (not the hub) redirects the module to another file.
    edited = store.get(Blueprint, bp.name, bp.namespace)
    assert edited.spec.modules[0].assets[0].source is not None
    edited.spec.modules[0].assets[0].source.connection.properties["path"] = "/data/other.parquet"
    store.update(edited)
    wait_for(lambda: (r := report(hub)) is not None and bool(r.spec.errors))
    r = report(hub)
    assert r is not None and "its last signed version runs on" in r.spec.errors[0]
    assert r.spec.blueprint.spec_hash == spec_hash(bp.spec) and r.spec.phase == "Ready"
    assert config.read_text() == before and agent.supervisor.pid("m4d-blueprints/default-nb/read") == pid
    status = store.get(Blueprint, bp.name, bp.namespace).status
    assert status is not None and any(c.type == "Signed" and c.status == "False" for c in status.conditions)
    # The hub's version back: taken again, nothing restarted.
    restored = store.get(Blueprint, bp.name, bp.namespace)
    restored.spec = bp.spec
    store.update(restored)
    wait_for(lambda: (r := report(hub)) is not None and not r.spec.errors)
    assert agent.supervisor.pid("m4d-blueprints/default-nb/read") == pid


def test_heartbeat_stamps_the_member(tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db")
    assert not beat(hub, "m1")
    hub.create(member("m1"))
    assert beat(hub, "m1")
    status = hub.get(type(member()), "m1").status
    assert status is not None and status.last_heartbeat is not None and status.agent_version
    hub.close()
