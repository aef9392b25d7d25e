from __future__ import annotations

from pathlib import Path

import pytest

from m4d.errors import InvalidError, NotFoundError
from m4d.generator.cluster_template import available, load_template, render_spec, templates_dir


def test_the_shipped_templates() -> None:
    assert {"plain", "zoned"} <= set(available())
    plain = render_spec(load_template("plain"), {"region": "eu-de"})
    assert plain.region == "eu-de" and plain.zone is None and plain.labels == {}
    assert plain.destination.namespace == "m4d-blueprints" and plain.destination.server is None
    zoned = render_spec(load_template("zoned"), {"region": "us-east", "zone": "us-east-1a", "tier": "restricted"})
    assert zoned.zone == "us-east-1a"
    assert zoned.labels == {
        "topology.kubernetes.io/region": "us-east",
        "topology.kubernetes.io/zone": "us-east-1a",
        "m4d.dev/tier": "restricted",
    }


def test_every_wrong_value_is_named_at_once() -> None:
    with pytest.raises(InvalidError) as info:
        render_spec(load_template("zoned"), {"region": "US East", "tier": "gold", "colour": "red"})
    fields = {e.path: e.message for e in info.value.errors}
    assert set(fields) == {"colour", "region", "zone", "tier"}
    assert "--set zone=VALUE" in fields["zone"]
    assert "one of standard, restricted" in fields["tier"]


def test_unknown_templates_list_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match="plain"):
        load_template("nope")


def test_a_template_file_by_path_with_its_own_problems(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("parameters:\n  - name: region\n    required: true\nspec:\n  region: ${region}\n  zone: ${zone}\n")
    with pytest.raises(InvalidError, match=r"\$\{zone\} is not a declared parameter"):
        render_spec(load_template(str(path)), {"region": "x"})
    path.write_text("spec:\n  region: here\n  colour: red\n")
    with pytest.raises(InvalidError, match=r"spec\.colour"):
        render_spec(load_template(str(path)), {})
    path.write_text("spec: [unclosed\n")
    with pytest.raises(InvalidError, match="not valid YAML"):
        load_template(str(path))


def test_templates_folder_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("M4D_CLUSTER_TEMPLATES", str(tmp_path))
    assert templates_dir() == tmp_path and available() == []
