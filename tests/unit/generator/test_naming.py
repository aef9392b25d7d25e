from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from m4d.api.meta import is_dns_label
from m4d.api.plotter import AppRef
from m4d.generator.naming import blueprint_name, cluster_of_path, instance_name

_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
_subdomain = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,200}[a-z0-9])?", fullmatch=True)


@given(_label, _subdomain)
def test_blueprint_names_are_dns_labels_and_deterministic(namespace: str, name: str) -> None:
    ref = AppRef(name=name, namespace=namespace)
    first = blueprint_name(ref)
    assert is_dns_label(first)
    assert blueprint_name(AppRef(name=name, namespace=namespace, uid="other", generation=9)) == first


def test_blueprint_names_keep_apart_what_reads_alike() -> None:
    a = blueprint_name(AppRef(namespace="a-b", name="c"))
    b = blueprint_name(AppRef(namespace="a", name="b-c"))
    assert a != b
    assert a.startswith("a-b-c-") and b.startswith("a-b-c-")


def test_long_names_are_cut_to_a_label_with_the_hash_kept() -> None:
    name = blueprint_name(AppRef(namespace="n" * 63, name="x" * 200))
    assert len(name) == 63
    assert is_dns_label(name)


@given(st.text(min_size=1, max_size=100))
def test_instance_names_are_dns_labels(key: str) -> None:
    assert is_dns_label(instance_name(key))


def test_instance_names_keep_plain_keys_and_separate_lookalikes() -> None:
    assert instance_name("read-module") == "read-module"
    assert instance_name("Read Module") != instance_name("read-module")
    assert instance_name("Read Module").startswith("read-module-")


def test_cluster_of_path() -> None:
    assert cluster_of_path("clusters/m1/blueprints/x.yaml") == "m1"
    assert cluster_of_path("clusters/m1/namespace.yaml") == "m1"
    assert cluster_of_path("argocd/clusters/m1.yaml") == "m1"
    assert cluster_of_path("argocd/project.yaml") is None
    assert cluster_of_path("README.md") is None
