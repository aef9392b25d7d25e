from __future__ import annotations

from pathlib import Path

import pytest

from m4d.errors import InvalidError, PermanentError
from m4d.generator import argocd
from m4d.generator.config import RenderConfig, public_url
from m4d.generator.validate import ENV_CRDS, argocd_crds_dir, validate_argocd
from tests.unit.generator.plans import member, members

CONFIG = RenderConfig("https://git.example/m4d.git", branch="release")


def test_member_application_syncs_its_folder_automatically() -> None:
    app = argocd.cluster_application(CONFIG, member("m1", zone="eu-de-1"))
    spec = app["spec"]
    assert spec["source"] == {
        "repoURL": "https://git.example/m4d.git",
        "targetRevision": "release",
        "path": "clusters/m1",
        "directory": {"recurse": True},
    }
    assert spec["destination"] == {"name": "m1", "namespace": "m4d-blueprints"}
    policy = spec["syncPolicy"]
    assert policy["automated"] == {"prune": True, "selfHeal": True, "allowEmpty": True}
    assert "CreateNamespace=true" in policy["syncOptions"]
    assert app["metadata"]["annotations"]["m4d.dev/zone"] == "eu-de-1"


def test_destination_server_wins_over_name() -> None:
    c = member("m1")
    c.spec.destination.server = "https://10.0.0.1:6443"
    assert argocd.destination(c) == {"server": "https://10.0.0.1:6443", "namespace": "m4d-blueprints"}


def test_project_lists_every_member_destination_and_only_blueprints() -> None:
    project = argocd.app_project(CONFIG, members(3))
    assert [d["name"] for d in project["spec"]["destinations"]] == ["member1", "member2", "member3"]
    assert project["spec"]["namespaceResourceWhitelist"] == [{"group": "app.m4d.dev", "kind": "Blueprint"}]


def test_health_check_is_keyed_for_blueprints() -> None:
    patch = argocd.health_check_patch(CONFIG)
    assert list(patch["data"]) == ["resource.customizations.health.app.m4d.dev_Blueprint"]


def test_validation_rejects_unknown_and_mistyped_fields_naming_them() -> None:
    app = argocd.cluster_application(CONFIG, member("m1"))
    app["spec"]["syncPolicy"]["automated"]["prunne"] = True
    app["spec"]["source"]["directory"]["recurse"] = "yes"
    del app["spec"]["project"]
    with pytest.raises(InvalidError) as info:
        validate_argocd(app)
    paths = {e.path for e in info.value.errors}
    assert paths == {"spec.syncPolicy.automated.prunne", "spec.source.directory.recurse", "spec.project"}


def test_missing_crds_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_CRDS, str(tmp_path))
    assert argocd_crds_dir() == tmp_path
    with pytest.raises(PermanentError, match=f"application-crd.yaml is missing.*{ENV_CRDS}"):
        argocd.root_application(CONFIG)


def test_the_crds_ship_in_the_package() -> None:
    assert (argocd_crds_dir() / "application-crd.yaml").is_file()


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://user:tok@git.example/r.git", "https://git.example/r.git"),
        ("ssh://git@git.example:22/r.git", "ssh://git.example:22/r.git"),
        ("file:///srv/r.git", "file:///srv/r.git"),
        ("/srv/r.git", "/srv/r.git"),
    ],
)
def test_public_url_drops_credentials(url: str, public: str) -> None:
    assert public_url(url) == public
    assert RenderConfig(url).repo_url == public
