"""Application access tokens: minted once, stable, private to their file, forgotten on deletion."""

from __future__ import annotations

from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.cluster.local import LocalCluster
from m4d.controllers.application.tokens import TokenController
from m4d.credentials.app_tokens import read_token
from m4d.credentials.interface import CredentialNotFound
from m4d.credentials.local import SecretsFile
from m4d.runtime.manager import Manager
from tests.factories import application


def test_tokens_follow_the_application(tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("secret/data/other: {key: kept}\n")
    hub.create(application("nb"))
    hub.create(application("other-app"))
    controller = TokenController(hub, secrets_file=secrets)
    assert Manager([controller]).run_until_idle(timeout=10)
    store = SecretsFile(secrets)
    first = read_token(store, "default", "nb")
    assert len(first) >= 40 and first != read_token(store, "default", "other-app")
    assert store.resolve("secret/data/other") == {"key": "kept"}
    assert secrets.stat().st_mode & 0o077 == 0

    assert Manager([controller]).run_until_idle(timeout=10)
    assert read_token(SecretsFile(secrets), "default", "nb") == first  # stable across reconciles

    hub.delete(M4DApplication, "nb", "default")
    assert Manager([controller]).run_until_idle(timeout=10)
    with pytest.raises(CredentialNotFound):
        read_token(SecretsFile(secrets), "default", "nb")
    assert read_token(SecretsFile(secrets), "default", "other-app")
    hub.close()


def test_many_applications_cost_a_few_edits_of_the_file(tmp_path: Path) -> None:
    hub = LocalCluster(tmp_path / "hub.db")
    secrets = tmp_path / "secrets.yaml"
    for i in range(60):
        hub.create(application(f"app{i}"))
    controller = TokenController(hub, secrets_file=secrets)
    assert Manager([controller]).run_until_idle(timeout=20)
    store = SecretsFile(secrets)
    assert len({read_token(store, "default", f"app{i}") for i in range(60)}) == 60
    assert 1 <= controller.edits <= 6
    for i in range(0, 60, 2):
        hub.delete(M4DApplication, f"app{i}", "default")
    assert Manager([controller]).run_until_idle(timeout=20)
    assert [a.name for a in hub.list(M4DApplication).items] == sorted(f"app{i}" for i in range(1, 60, 2))
    for i in range(60):
        if i % 2:
            assert read_token(SecretsFile(secrets), "default", f"app{i}")
        else:
            with pytest.raises(CredentialNotFound):
                read_token(SecretsFile(secrets), "default", f"app{i}")
    hub.close()
