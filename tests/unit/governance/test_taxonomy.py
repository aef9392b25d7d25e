"""The taxonomy: built-in vocabularies, layering, Fybrik compatibility, and errors that name field and rule."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from m4d.api.common import Connection, Interface
from m4d.api.module import M4DModule, M4DModuleSpec, ModuleCapability, ModuleDeployment, ModuleInOut, SupportedAction
from m4d.api.storage import M4DStorageAccount, M4DStorageAccountSpec
from m4d.errors import InvalidError
from m4d.taxonomy import Taxonomy, default_taxonomy
from m4d.taxonomy.layering import camel, merge, snake
from m4d.taxonomy.resources import check_application, check_data_interface, check_module, check_storage
from tests.factories import application

SHARED = Path(__file__).resolve().parents[3] / "tests" / "data" / "fybrik"


def shared_fybrik() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"the Fybrik reference schemas are missing: expected {SHARED} (vendored test data)")
    return SHARED


def messages(errors: Sequence[object]) -> list[str]:
    return [str(e) for e in errors]


def test_builtin_vocabularies() -> None:
    tax = default_taxonomy()
    assert tax.connection_kinds == ["file", "fybrik-arrow-flight", "postgres", "s3"]
    assert tax.formats == ["parquet", "csv", "arrow", "json"]
    assert tax.actions == ["FilterRows", "HashColumn", "RedactColumn", "RemoveColumn"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"kind": "s3", "properties": {"endpoint": "http://s3", "bucket": "b"}},
            ["c.properties.objectKey: required (taxonomy rule #/definitions/s3/required)"],
        ),
        (
            {"kind": "ftp", "properties": {}},
            [
                "c.kind: must be one of file, fybrik-arrow-flight, postgres, s3 (got 'ftp') "
                "(taxonomy rule #/definitions/ConnectionKind/enum)"
            ],
        ),
        (
            {"kind": "postgres", "properties": {"host": "h", "port": "5432", "database": "d", "table": "t", "pw": "x"}},
            [
                "c.properties.port: must be of type integer (got '5432') "
                "(taxonomy rule #/definitions/postgres/properties/port/type)",
                "c.properties.pw: unknown field (taxonomy rule #/definitions/postgres/additionalProperties)",
            ],
        ),
        ({"kind": "file", "properties": {"path": "/data/x.parquet"}}, []),
    ],
)
def test_connection_errors_name_field_and_rule(value: dict[str, object], expected: list[str]) -> None:
    assert sorted(messages(default_taxonomy().check_connection(value, "c"))) == sorted(expected)


def test_action_rules() -> None:
    tax = default_taxonomy()
    assert tax.check_action({"name": "HashColumn", "columns": ["ssn"], "options": {"keyRef": "secret/k"}}) == []
    assert messages(tax.check_action({"name": "HashColumn", "columns": ["ssn"]}, "a")) == [
        "a.options: required (taxonomy rule #/definitions/HashColumn/required)"
    ]
    assert messages(tax.check_action({"name": "FilterRows", "options": {"predicate": ""}}, "a")) == [
        "a.options.predicate: must not be empty "
        "(taxonomy rule #/definitions/FilterRows/properties/options/properties/predicate/minLength)"
    ]
    assert messages(tax.check_action({"name": "RemoveColumn", "columns": []}, "a")) == [
        "a.columns: must have at least 1 item(s) (taxonomy rule #/definitions/Columns/minItems)"
    ]
    assert "must be one of FilterRows" in messages(tax.check_action({"name": "Deny"}, "a"))[0]


def test_interface_and_app_info() -> None:
    tax = default_taxonomy()
    assert tax.check_interface({"protocol": "fybrik-arrow-flight", "dataformat": "arrow"}) == []
    assert messages(tax.check_interface({"protocol": "s3", "dataformat": "xml"}, "i")) == [
        "i.dataformat: must be one of parquet, csv, arrow, json (got 'xml') "
        "(taxonomy rule #/definitions/DataFormat/enum)"
    ]
    assert messages(tax.check_app_info({"role": "x"}, "spec.appInfo")) == [
        "spec.appInfo.intent: required (taxonomy rule #/definitions/AppInfo/required)"
    ]


def test_operator_layer_extends_and_never_removes(tmp_path: Path) -> None:
    layer = {
        "definitions": {
            "ConnectionKinds": {"properties": {"kafka": {"$ref": "#/definitions/kafka"}}},
            "kafka": {"type": "object", "required": ["topic"], "properties": {"topic": {"type": "string"}}},
            "DataFormat": {"enum": ["avro"]},
            "AppInfo": {"properties": {"properties": {"properties": {"costCenter": {"pattern": "^cc-[0-9]+$"}}}}},
        }
    }
    (tmp_path / "90-site.json").write_text(json.dumps(layer))
    tax = Taxonomy.load([tmp_path])
    assert "kafka" in tax.connection_kinds and "s3" in tax.connection_kinds
    assert tax.formats == ["parquet", "csv", "arrow", "json", "avro"]
    assert tax.check_connection({"kind": "kafka", "properties": {"topic": "t"}}) == []
    assert messages(tax.check_app_info({"intent": "x", "properties": {"costCenter": "42"}}, "spec.appInfo")) == [
        "spec.appInfo.properties.costCenter: must match ^cc-[0-9]+$ (got '42') "
        "(taxonomy rule #/definitions/AppInfo/properties/properties/properties/costCenter/pattern)"
    ]
    assert tax.layers[-1] == str(tmp_path / "90-site.json")


def test_broken_layer_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidError, match=r"taxonomy layer .*bad.json is invalid"):
        Taxonomy.load([tmp_path])


def test_fybrik_taxonomy_loads_as_a_layer() -> None:
    tax = Taxonomy.load([shared_fybrik() / "taxonomy" / "taxonomy.json"])
    assert {"kafka", "mysql", "db2", "https", "google-sheets"} <= set(tax.connection_kinds)
    # Fybrik's snake_case property names arrive camelCased, with their rules.
    assert messages(tax.check_connection({"kind": "kafka", "properties": {"topicName": "t"}}, "c")) == [
        "c.properties.bootstrapServers: required (taxonomy rule #/definitions/kafka/required)"
    ]
    # Our own s3 rules still hold after the merge.
    errors = tax.check_connection({"kind": "s3", "properties": {"endpoint": "e", "bucket": "b"}}, "c")
    assert messages(errors) == ["c.properties.objectKey: required (taxonomy rule #/definitions/s3/required)"]


def test_packaged_fybrik_schemas_are_fybriks() -> None:
    packaged = Path(__file__).resolve().parents[3] / "m4d" / "taxonomy" / "fybrik_schemas"
    for name in ("taxonomy.json", "datacatalog.json", "policymanager.json"):
        assert (packaged / name).read_bytes() == (shared_fybrik() / "taxonomy" / name).read_bytes(), name


def test_merge_rules() -> None:
    assert merge({"enum": ["a"], "x": 1}, {"enum": ["b", "a"], "x": 2}) == {"enum": ["a", "b"], "x": 2}
    assert merge({"a": {"b": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}
    assert camel("object_key") == "objectKey" and snake("objectKey") == "object_key"


def test_resource_checks() -> None:
    tax = default_taxonomy()
    app = application()
    assert check_application(tax, app) == []
    app.spec.data[0].requirements.interface = Interface(protocol="grpc-flight")
    assert messages(check_data_interface(tax, app, 0))[0].startswith(
        "spec.data[0].requirements.interface.protocol: must be one of"
    )
    module = M4DModule.new(
        "m",
        "default",
        spec=M4DModuleSpec(
            capabilities=[
                ModuleCapability(
                    capability="read",
                    supported_interfaces=[ModuleInOut(source=Interface(protocol="s3", dataformat="orc"))],
                    actions=[SupportedAction(name="RedactColumn"), SupportedAction(name="Mask")],
                )
            ],
            deployment=ModuleDeployment(),
        ),
    )
    assert [e.path for e in check_module(tax, module)] == [
        "spec.capabilities[0].supportedInterfaces[0].source.dataformat",
        "spec.capabilities[0].actions[1].name",
    ]
    account = M4DStorageAccount.new(
        "s",
        "default",
        spec=M4DStorageAccountSpec(geography="eu-de", connection=Connection(kind="s3", properties={}), format="xls"),
    )
    assert sorted(e.path for e in check_storage(tax, account)) == [
        "spec.connection.properties.bucket",
        "spec.connection.properties.endpoint",
        "spec.connection.properties.objectKey",
        "spec.format",
    ]
