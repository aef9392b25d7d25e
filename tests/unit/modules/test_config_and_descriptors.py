from pathlib import Path

import pytest
import yaml

from m4d.api.blueprint import BlueprintModule, ModuleAsset
from m4d.api.common import Action, Connection, DataStore
from m4d.api.module import ModuleDeployment
from m4d.api.registry import kind_info
from m4d.api.schema import validate_object
from m4d.credentials import CredentialSource
from m4d.errors import InvalidError
from m4d.modules import actions
from m4d.modules.config import ClientGrant, ModuleConfig, from_blueprint, token_digest
from m4d.modules.descriptors import descriptor_files, load_descriptors


def blueprint_module() -> BlueprintModule:
    store = DataStore(connection=Connection(kind="file", properties={"path": "/data/x.parquet"}), format="parquet")
    return BlueprintModule(
        name="read-x",
        module="arrow-flight",
        deployment=ModuleDeployment(command=["m4d", "module", "flight", "--config", "{config}"], port=8080),
        assets=[
            ModuleAsset(
                asset_id="ns/x", capability="read", source=store, actions=[Action(name="RemoveColumn", columns=["a"])]
            ),
            ModuleAsset(asset_id="ns/y", capability="write", sink=store),
        ],
    )


def test_from_blueprint_holds_no_secret_and_round_trips_through_yaml(tmp_path: Path) -> None:
    config = from_blueprint(
        blueprint_module(),
        credentials=CredentialSource(kind="vault", address="http://vault:8200", auth="kubernetes", role="m4d-modules"),
        clients=[ClientGrant.for_token("ns/app", "the-token", ["ns/x"])],
    )
    assert config.listen.port == 8080 and [a.asset_id for a in config.assets] == ["ns/x", "ns/y"]
    text = config.dump()
    assert "the-token" not in text and token_digest("the-token") in text
    path = tmp_path / "module.yaml"
    path.write_text(text)
    assert ModuleConfig.load(path) == config
    only_read = from_blueprint(
        blueprint_module(), credentials=CredentialSource(path="/s.yaml"), capability="read", port=0
    )
    assert [a.asset_id for a in only_read.assets] == ["ns/x"] and only_read.listen.port == 0


def test_config_errors_name_every_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "m", "assets": [{"assetId": "../etc", "capability": "read"}], "bogus": 1}))
    with pytest.raises(InvalidError) as info:
        ModuleConfig.load(path)
    text = str(info.value)
    assert "assets" in text and "bogus" in text
    good = blueprint_module()
    with pytest.raises(ValueError, match="unknown assets"):
        from_blueprint(
            good, credentials=CredentialSource(path="/s"), clients=[ClientGrant.for_token("a/b", "t", ["ns/zzz"])]
        )


def test_descriptors_are_valid_m4dmodules_naming_every_action() -> None:
    modules = {m.name: m for m in load_descriptors()}
    assert set(modules) == {"arrow-flight", "implicit-copy"}
    for path in descriptor_files():
        validate_object(kind_info("M4DModule"), yaml.safe_load(path.read_text()))
    for module in modules.values():
        for capability in module.spec.capabilities:
            assert {a.name for a in capability.actions} == set(actions.ALL_ACTIONS)
    read = modules["arrow-flight"].spec.capabilities[0]
    assert read.api is not None and (read.api.protocol, read.api.dataformat) == ("fybrik-arrow-flight", "arrow")
    assert modules["implicit-copy"].spec.deployment.kind == "Job"


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh", strict=True)
)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("name: café\n".encode("latin-1"), "is not UTF-8 (byte 0xe9 at offset 9)"),
        (b"\xff\xfe\x00n\x00a\x00m\x00e", "is not UTF-8 (byte 0xff at offset 0)"),
        (b"name: m\x00\n", "is not valid YAML: unacceptable character #x0000"),
        (b"name: [\n", "is not valid YAML at line 2, column 1"),
        (b"a: " + b"[" * 100_000, "is not valid YAML at line 1"),
        (BOMB.encode(), "expands to more than 1000000 values"),
        (b"name: a\nname: b\n", "key 'name' is repeated (line 2)"),
        (b"- name: a\n", "Input should be a valid dictionary"),
        (b"", "Input should be a valid dictionary"),
        (b"name: x\nassets: 3\n", "assets: Input should be a valid list"),
    ],
)
def test_a_config_file_that_cannot_be_used_is_refused_with_what_is_wrong(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "module.yaml"
    path.write_bytes(content)
    with pytest.raises(InvalidError) as info:
        ModuleConfig.load(path)
    assert str(info.value).startswith(f"module config {path} is invalid")
    assert problem in str(info.value)


def test_a_missing_or_unreadable_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidError, match="cannot be read"):
        ModuleConfig.load(tmp_path / "missing.yaml")
    with pytest.raises(InvalidError, match="cannot be read"):
        ModuleConfig.load(tmp_path)
