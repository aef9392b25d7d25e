from __future__ import annotations

import random

import pytest

from m4d.api.blueprint import Blueprint
from m4d.api.meta import utcnow
from m4d.errors import InvalidError
from m4d.generator.config import RenderConfig
from m4d.generator.naming import blueprint_path, is_owned
from m4d.generator.tree import render_tree
from m4d.generator.yamlfmt import load
from tests.unit.generator.plans import members, plotter

CONFIG = RenderConfig("https://git.example/m4d/gitops.git")


def _plans() -> list:
    return [plotter(f"app{i}", "team-a" if i % 2 else "team-b", clusters=(f"member{1 + i % 3}",)) for i in range(8)]


def test_same_inputs_give_byte_identical_files_whatever_their_order() -> None:
    first = render_tree(_plans(), members(3), CONFIG).rendered.files
    plans, clusters = _plans(), members(3)
    random.Random(7).shuffle(plans)
    clusters.reverse()
    # Same properties inserted in another order: dict order must not leak into the bytes.
    for p in plans:
        for flow in p.spec.flows:
            for step in flow.steps:
                assert step.source is not None
                props = step.source.connection.properties
                step.source.connection.properties = dict(reversed(list(props.items())))
    second = render_tree(plans, clusters, CONFIG).rendered.files
    assert list(first) != [] and first == second


def test_the_tree_has_a_folder_and_registration_per_cluster_and_one_blueprint_per_app_and_cluster() -> None:
    result = render_tree([plotter("a", clusters=("member1", "member2")), plotter("b")], members(3), CONFIG)
    files = result.rendered.files
    assert not result.errors
    assert all(is_owned(p) for p in files)
    for c in ("member1", "member2", "member3"):
        assert f"clusters/{c}/namespace.yaml" in files
        assert f"argocd/clusters/{c}.yaml" in files
    blueprints = sorted(p for p in files if "/blueprints/" in p)
    assert len(blueprints) == 3
    doc = load(files[blueprints[0]])
    bp = Blueprint.model_validate(doc)
    assert bp.metadata.namespace == "m4d-blueprints"
    assert bp.spec.plotter.startswith("default/")
    assert "creationTimestamp" not in doc["metadata"] and "status" not in doc
    assert result.rendered.origins[blueprints[0]].application == f"default/{bp.spec.application.name}"


def test_no_timestamps_or_credentials_in_any_file() -> None:
    config = RenderConfig("https://robot:s3cr3t-t0ken@git.example/m4d/gitops.git")
    files = render_tree(_plans(), members(3), config).rendered.files
    year = str(utcnow().year)
    for path, content in files.items():
        assert b"s3cr3t-t0ken" not in content, path
        assert year.encode() not in content, path
    assert b"repoURL: https://git.example/m4d/gitops.git" in files["argocd/clusters/member1.yaml"]


def test_a_bad_plotter_is_reported_and_the_rest_still_renders() -> None:
    good, bad = plotter("good"), plotter("bad", clusters=("gone",))
    result = render_tree([good, bad], members(1), CONFIG)
    assert set(result.errors) == {"default/bad"}
    assert any("/blueprints/" in p for p in result.rendered.files)


def test_two_plotters_for_one_application_the_first_by_key_wins() -> None:
    first, second = plotter("p1"), plotter("p2")
    second.spec.application = first.spec.application
    result = render_tree([second, first], members(1), CONFIG)
    assert set(result.errors) == {"default/p2"}
    assert result.errors["default/p2"].reason == "DuplicatePlotter"


def test_deleting_plotters_have_no_blueprints() -> None:
    going = plotter("going")
    going.metadata.deletion_timestamp = utcnow()
    result = render_tree([going], members(1), CONFIG)
    assert not [p for p in result.rendered.files if "/blueprints/" in p]


def test_an_invalid_destination_namespace_fails_validation() -> None:
    clusters = members(1)
    clusters[0].spec.destination.namespace = "Not_A_Label"
    with pytest.raises(InvalidError, match=r"must be a DNS label \(got .Not_A_Label.\)"):
        render_tree([plotter()], clusters, CONFIG)


def test_blueprint_paths_depend_on_the_application_only() -> None:
    p = plotter("x", "ns")
    files = render_tree([p], members(1), CONFIG).rendered.files
    assert blueprint_path("member1", "ns-x-" + __import__("hashlib").sha256(b"ns\x00x").hexdigest()[:8]) in files
