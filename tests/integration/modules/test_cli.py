"""`m4d module flight` as the agent runs it: a process that reports its endpoint and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.flight as flight
import pyarrow.parquet as pq
import pytest

from m4d.api.blueprint import ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.credentials import CredentialSource
from m4d.modules.config import ClientGrant, ModuleConfig

from .conftest import people

pytestmark = pytest.mark.integration


def test_flight_process_reports_its_endpoint_serves_and_stops(tmp_path: Path, secrets_file: Path) -> None:
    pq.write_table(people(1000), tmp_path / "p.parquet")
    store = DataStore(
        connection=Connection(kind="file", properties={"path": str(tmp_path / "p.parquet")}), format="parquet"
    )
    config = ModuleConfig(
        name="cli",
        assets=[
            ModuleAsset(
                asset_id="hr/p", capability="read", source=store, actions=[Action(name="RemoveColumn", columns=["ssn"])]
            )
        ],
        credentials=CredentialSource(kind="file", path=str(secrets_file)),
        clients=[ClientGrant.for_token("ns/app", "cli-token", ["hr/p"])],
    )
    (tmp_path / "module.yaml").write_text(config.dump())
    ready = tmp_path / "ready.json"
    m4d = str(Path(sys.executable).with_name("m4d"))
    proc = subprocess.Popen(
        [m4d, "module", "flight", "--config", str(tmp_path / "module.yaml"), "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        endpoint = json.loads(ready.read_text())
        assert endpoint["protocol"] == "fybrik-arrow-flight" and endpoint["port"] > 0
        with flight.FlightClient(f"grpc://{endpoint['hostname']}:{endpoint['port']}") as client:
            options = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer cli-token")])
            info = client.get_flight_info(flight.FlightDescriptor.for_path("hr/p"), options)
            assert client.do_get(info.endpoints[0].ticket, options).read_all().num_rows == 1000
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        logs = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert not ready.exists()
    assert "cli-token" not in logs and "serving 1 assets" in logs


@pytest.mark.parametrize("content", ["name: café\n".encode("latin-1"), b"name: [\n", b"name: a\nname: a\n"])
@pytest.mark.parametrize("command", ["flight", "copy"])
def test_a_bad_config_file_ends_the_module_with_a_message_not_a_traceback(
    tmp_path: Path, content: bytes, command: str
) -> None:
    config = tmp_path / "module.yaml"
    config.write_bytes(content)
    m4d = str(Path(sys.executable).with_name("m4d"))
    done = subprocess.run(
        [m4d, "module", command, "--config", str(config)], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 1
    err = done.stderr.decode()
    assert err.startswith(f"error: module config {config} is invalid"), err
    assert "Traceback" not in err
