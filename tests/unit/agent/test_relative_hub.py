"""`m4d agent` with the default, relative hub directory (`.m4d`, as docs/e2e.md starts it): the modules it
starts run in their own working directory and must still find their configuration and secrets."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from m4d.api import Blueprint
from m4d.api.blueprint import BlueprintModule, BlueprintSpec, ModuleAsset
from m4d.api.common import Connection, DataStore, Interface
from m4d.api.module import ModuleDeployment
from m4d.api.plotter import AppRef
from m4d.cluster.local import LocalCluster
from m4d.credentials.app_tokens import ensure_token_in_file
from m4d.credentials.signing import SIGNATURE_ANNOTATION, ensure_signing_key_in_file, sign
from tests.factories import member

# At the process boundary, in the module's own working directory: read the configuration the agent
# passed, check that the credentials it names can be opened from there, announce an endpoint.
MODULE = """
import json, pathlib, sys, time, yaml
config = yaml.safe_load(pathlib.Path(sys.argv[1]).read_text())
secrets = pathlib.Path(config["credentials"]["path"])
assert secrets.is_absolute() and secrets.is_file(), secrets
pathlib.Path(sys.argv[2]).write_text(json.dumps({"hostname": "127.0.0.1", "port": 45001}))
time.sleep(120)
"""


def test_modules_of_an_agent_on_a_relative_hub_find_their_config(tmp_path: Path) -> None:
    hub_dir = tmp_path / ".m4d"
    (hub_dir / "members").mkdir(parents=True)
    hub = LocalCluster(hub_dir / "hub.db", name="hub")
    hub.create(member("m1"))
    hub.close()
    ensure_token_in_file(hub_dir / "secrets.yaml", "default", "nb")
    script = tmp_path / "module.py"
    script.write_text(MODULE)
    store = DataStore(connection=Connection(kind="file", properties={"path": "/data/tx.parquet"}), format="parquet")
    read = BlueprintModule(
        name="read",
        module="arrow-flight",
        deployment=ModuleDeployment(command=[sys.executable, str(script), "{config}", "{ready_file}"]),
        assets=[
            ModuleAsset(
                asset_id="finance/tx", capability="read", source=store, api=Interface(protocol="fybrik-arrow-flight")
            )
        ],
    )
    ref = AppRef(name="nb", namespace="default", uid="u1", generation=1)
    spec = BlueprintSpec(cluster="m1", application=ref, plotter="default/nb", modules=[read])
    members = LocalCluster(hub_dir / "members" / "m1.db", name="m1")
    bp = Blueprint.new("default-nb", "m4d-blueprints", spec=spec)
    key = ensure_signing_key_in_file(hub_dir / "secrets.yaml", "m1")  # signed as the hub renders it
    bp.metadata.annotations = {SIGNATURE_ANNOTATION: sign(key, "m1", "m4d-blueprints", bp.name, spec)}
    members.create(bp)
    members.close()

    agent = subprocess.Popen(
        [sys.executable, "-m", "m4d.cli", "agent", "--cluster", "m1", "--heartbeat", "1", "--stop-modules"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        ready: list[Path] = []
        while not ready:
            assert agent.poll() is None, agent.stderr.read().decode() if agent.stderr else ""
            logs = "".join(p.read_text() for p in hub_dir.rglob("module.log"))
            assert time.monotonic() < deadline, f"the module never became ready; its log:\n{logs}"
            ready = list((hub_dir / "run" / "m1").rglob("ready.json"))
            time.sleep(0.1)
        assert "Error" not in "".join(p.read_text() for p in hub_dir.rglob("module.log"))
    finally:
        agent.terminate()
        agent.communicate(timeout=60)
