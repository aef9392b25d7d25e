"""Session fixtures for the integration tier: one etcd, three real kube-apiservers (hub, member1, member2)
and the hub's kube-controller-manager, started once per test session (tests/testenv/servers.py).

A pytest plugin, registered for the whole suite by tests/conftest.py, so any test may ask for a real
server (the contract suite's `kube` parameter does); the servers start only when a test asks.

A missing binary or a server that does not come up fails the tests that use these fixtures with the
reason (never a silent skip): run `make testenv` first, or point KUBEBUILDER_ASSETS at kube-apiserver and
etcd binaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from kubernetes import config

from tests.testenv import gitea as gitea_server
from tests.testenv.locate import locate
from tests.testenv.openbao import OpenBao, openbao_dev
from tests.testenv.servers import ApiServer, ServerStartError, TestEnv, running
from tests.testenv.versions import OPA
from tests.testenv.workloads import ClusterNodes, running_nodes


@pytest.fixture(scope="session")
def testenv() -> Iterator[TestEnv]:
    """All servers. Failure to start is reported once and re-raised for every test that asks."""
    with ExitStack() as stack:
        problem = ""
        try:
            env = stack.enter_context(running())
        except (FileNotFoundError, ServerStartError) as error:
            problem = str(error)  # failed outside the except block, so the report is not a chained traceback
        if problem:
            pytest.fail(problem, pytrace=False)
        yield env


@pytest.fixture(scope="session")
def hub_api(testenv: TestEnv) -> ApiServer:
    return testenv.hub


@pytest.fixture(scope="session")
def member_apis(testenv: TestEnv) -> tuple[ApiServer, ...]:
    return testenv.members


@pytest.fixture(scope="session")
def hub_controller_manager(testenv: TestEnv) -> None:
    """For tests that need controllers on the hub (garbage collection, namespace deletion)."""
    if testenv.controller_manager_problem is not None:
        pytest.fail(
            f"the hub's kube-controller-manager is not running: {testenv.controller_manager_problem}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def cluster_nodes(testenv: TestEnv, hub_controller_manager: None) -> Iterator[ClusterNodes]:
    """A kube-scheduler and a node emulator for every cluster, and a controller manager for the members
    (tests/testenv/workloads.py): Deployments, Jobs and their pods run, as on real clusters."""
    with ExitStack() as stack:
        problem = ""
        try:
            nodes = stack.enter_context(running_nodes(testenv))
        except (FileNotFoundError, ServerStartError) as error:
            problem = str(error)
        if problem:
            pytest.fail(problem, pytrace=False)
        yield nodes


@pytest.fixture(scope="session")
def opa_binary() -> Path:
    """The pinned OPA binary (tests start their own `opa run --server` with their policies)."""
    found = locate(OPA)
    if found.path is None:
        pytest.fail(found.missing_message(), pytrace=False)
    return found.path


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """A dev-mode OpenBao (the Vault API) for the session: root token, KV v2 at `secret/`. Tests that add
    auth methods or policies use their own mount paths and names, so they do not meet."""
    with ExitStack() as stack:
        problem = ""
        try:
            server = stack.enter_context(openbao_dev(tmp_path_factory.mktemp("openbao")))
        except (FileNotFoundError, ServerStartError) as error:
            problem = str(error)
        if problem:
            pytest.fail(problem, pytrace=False)
        yield server


@pytest.fixture
def kube_client() -> Iterator[Callable[[ApiServer], Any]]:
    """`kube_client(api)` -> a kubernetes.client.ApiClient for that cluster as admin, closed after the test
    (an unclosed one leaks sockets, which filterwarnings=error turns into failures)."""
    made: list[Any] = []

    def make(api: ApiServer) -> Any:
        client = config.new_client_from_config(config_file=str(api.kubeconfig), context=api.context)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="session")
def gitea() -> Iterator[gitea_server.Gitea]:
    """A real Gitea with an admin token, once per session (tests/testenv/gitea.py). Tests make their own
    repositories in it, so they do not see each other's pull requests."""
    with ExitStack() as stack:
        problem = ""
        try:
            server = stack.enter_context(gitea_server.running())
        except (FileNotFoundError, gitea_server.ServerStartError) as error:
            problem = f"Gitea could not start: {error}"
        if problem:
            pytest.fail(problem, pytrace=False)
        yield server
