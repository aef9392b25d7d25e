"""A catalog that answers one asset a byte every half second holds up only the applications that need that
asset: the hub's controllers reconcile several objects at once (workers), and the connector gives up on
the whole request after its timeout, so the slow application gets its status too, in bounded time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.api.meta import find_condition
from m4d.cluster.local import LocalCluster
from m4d.connectors.catalog import FileCatalog
from m4d.connectors.fybrik import asset_to_fybrik
from m4d.controllers.hub import HubConfig, build_hub
from m4d.runtime.manager import Manager
from tests.badinput.servers import Behaviour, misbehaving
from tests.unit.governance.world import MODULES, SAMPLE_CATALOG, SAMPLE_POLICIES, STORAGE, application, cluster

FIN = "finance/transactions"
SLOW = "slow/asset"
CONNECTOR_TIMEOUT = 6.0


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub.db", name="hub")
    for name in ("arrow-flight", "implicit-copy"):
        store.create(MODULES[name])
    for name, region in (("eu-de-1", "eu-de"), ("eu-fr-1", "eu-fr")):
        store.create(cluster(name, region))
    store.create(STORAGE["eu-fr-store"])
    yield store
    store.close()


def outcome(hub: LocalCluster, name: str) -> str | None:
    """The Ready condition's reason once the application has a status for its generation."""
    app = hub.get(M4DApplication, name, "default")
    if app.status is None or app.status.observed_generation != app.metadata.generation:
        return None
    ready = find_condition(app.status.conditions, "Ready")
    return ready.reason if ready is not None else None


@pytest.mark.timeout(120)
def test_one_slow_asset_delays_only_the_applications_that_need_it(hub: LocalCluster, tmp_path: Path) -> None:
    good = json.dumps(asset_to_fybrik(FileCatalog(SAMPLE_CATALOG).get_asset(FIN))).encode()
    trickle = Behaviour(good, byte_every=0.5)  # the whole answer would take minutes
    with misbehaving() as server:
        server.behave(Behaviour(good, by_asset={SLOW: trickle}))
        # The slow one first (by creation and by name), so a single worker would take it first and keep the
        # others waiting.
        hub.create(application([SLOW], "Fraud Detection", name="a-slow"))
        fast = [f"fast-{i}" for i in range(4)]
        for name in fast:
            hub.create(application([FIN], "Fraud Detection", name=name))
        config = HubConfig(
            catalog=f"fybrik:{server.url}", policy=f"builtin:{SAMPLE_POLICIES}", connector_timeout=CONNECTOR_TIMEOUT
        )
        built = build_hub(hub, config)
        manager = Manager(built.controllers)
        started = time.monotonic()
        manager.start()
        try:
            deadline = started + CONNECTOR_TIMEOUT * 0.75
            while time.monotonic() < deadline and any(outcome(hub, n) is None for n in fast):
                time.sleep(0.1)
            fast_done = time.monotonic() - started
            assert all(outcome(hub, n) is not None for n in fast), "the slow catalog answer held up the others"
            assert outcome(hub, "a-slow") is None, "the slow answer came back sooner than it can"
            # The slow application is not held forever: its request is given up whole.
            while time.monotonic() < started + 4 * CONNECTOR_TIMEOUT and outcome(hub, "a-slow") is None:
                time.sleep(0.2)
        finally:
            manager.stop()
            built.close()
    assert fast_done < CONNECTOR_TIMEOUT
    assert outcome(hub, "a-slow") is not None
    app = hub.get(M4DApplication, "a-slow", "default")
    assert app.status is not None
    state = app.status.asset_states[SLOW]
    error = find_condition(state.conditions, "Error")
    assert error is not None and error.reason == "CatalogUnavailable"
    assert f"no whole answer within {CONNECTOR_TIMEOUT:g}s" in error.message
