"""Servers for the governance integration tests: a real OPA loaded with the sample rego, and our
loopback servers speaking the Fybrik catalog and policy-manager specs."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from m4d.api.application import AppInfo
from m4d.api.common import Connection
from m4d.connectors.catalog import AssetInfo, Column, FileCatalog
from m4d.connectors.fybrik import asset_to_fybrik, tags_from_fybrik
from m4d.connectors.policy import BuiltinPolicyEngine, PolicyRequest
from m4d.connectors.policy.wire import results_to_fybrik
from m4d.errors import NotFoundError
from tests.integration.governance.fybrik_server import SpecServer, serve
from tests.testenv.locate import locate
from tests.testenv.process import Server, free_port
from tests.testenv.versions import OPA
from tests.unit.governance.world import ROOT, SAMPLE_CATALOG, SAMPLE_POLICIES

SAMPLE_REGO = ROOT / "samples" / "policies" / "opa"


@dataclass
class OpaServer:
    url: str
    process: Server

    def stop(self) -> None:
        self.process.stop()


def start_opa(port: int, workdir: Path, policies: Path = SAMPLE_REGO) -> OpaServer:
    binary = locate(OPA).require()
    argv = [str(binary), "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error", str(policies)]
    process = Server("opa", argv, workdir / f"opa-{port}.log")
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(f"{url}/health", time.monotonic() + 30)
    return OpaServer(url, process)


@pytest.fixture(scope="session")
def opa() -> Iterator[OpaServer]:
    """One OPA for the session, serving the sample rego (tests must not change its policies)."""
    with tempfile.TemporaryDirectory(prefix="m4d-opa-") as tmp:
        server = start_opa(free_port(), Path(tmp))
        yield server
        server.stop()


def catalog_handler(catalog: FileCatalog) -> Any:
    def handle(body: dict[str, Any]) -> tuple[int, Any]:
        try:
            return 200, asset_to_fybrik(catalog.get_asset(body["assetID"]))
        except NotFoundError as exc:
            return 404, {"message": str(exc)}

    return handle


def policy_handler(engine: BuiltinPolicyEngine) -> Any:
    """Answers GetPolicyDecisionsRequests with the built-in engine (what a Fybrik policy connector does)."""

    def handle(body: dict[str, Any]) -> tuple[int, Any]:
        meta = body["resource"].get("metadata", {})
        asset = AssetInfo(
            id=body["resource"]["id"],
            geography=meta.get("geography"),
            tags=tags_from_fybrik(meta.get("tags")),
            columns=[Column(name=c["name"], tags=tags_from_fybrik(c.get("tags"))) for c in meta.get("columns", [])],
            connection=Connection(kind="file", properties={"path": "not-sent-to-policy-managers"}),
        )
        context = dict(body.get("context", {}))
        info = AppInfo(intent=context.pop("intent"), role=context.pop("role", None), properties=context)
        action = body["action"]
        request = PolicyRequest(
            action=action["actionType"],
            asset=asset,
            context=info,
            processing_geography=action.get("processingLocation"),
            destination=action.get("destination"),
        )
        decision = engine.decide(request)
        answer: dict[str, Any] = {"result": results_to_fybrik(decision)}
        if decision.message:
            answer["message"] = decision.message
        return 200, answer

    return handle


@pytest.fixture
def catalog_server() -> Iterator[SpecServer]:
    with serve(SpecServer("datacatalog.spec.yaml", catalog_handler(FileCatalog(SAMPLE_CATALOG)))) as server:
        yield server


@pytest.fixture
def policy_server() -> Iterator[SpecServer]:
    with serve(SpecServer("policymanager.spec.yaml", policy_handler(BuiltinPolicyEngine(SAMPLE_POLICIES)))) as server:
        yield server
