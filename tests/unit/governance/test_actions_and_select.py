"""Merging policy actions into what a module applies, and choosing connectors from their specs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from m4d.api.common import Action
from m4d.connectors.catalog import FileCatalog, FybrikCatalog
from m4d.connectors.policy import BuiltinPolicyEngine, DecidedAction, FybrikPolicyManager, OpaPolicyManager
from m4d.connectors.select import open_catalog, open_policy_manager
from m4d.controllers.application.actions import normalize, without
from m4d.controllers.application.candidates import describe_action
from m4d.errors import InvalidError
from m4d.taxonomy import default_taxonomy

COLUMNS = ["id", "name", "email", "ssn", "country"]


def act(policy: str, name: str, *columns: str, **options: str) -> DecidedAction:
    return DecidedAction(action=Action(name=name, columns=list(columns), options=options), policy=policy)


def text(actions: list[DecidedAction]) -> list[str]:
    return [f"{describe_action(a.action)} by {a.policy}" for a in actions]


def test_merge_order_and_removal() -> None:
    merged = normalize(
        [
            act("p1", "RedactColumn", "ssn"),
            act("p2", "RedactColumn", "name", "ssn"),
            act("p3", "RemoveColumn", "name"),
            act("p4", "HashColumn", "id", keyRef="k"),
            act("p5", "FilterRows", predicate="country = 'DE'"),
            act("p6", "RedactColumn", "email", value="***"),
        ],
        COLUMNS,
    )
    assert text(merged) == [
        "FilterRows(country = 'DE') by p5",
        "RemoveColumn(name) by p3",
        "HashColumn(id) by p4",
        "RedactColumn(email) by p6",  # its own options: not merged with the default redaction
        "RedactColumn(ssn) by p1, p2",  # name is removed anyway
    ]


def test_without_what_a_copy_applied() -> None:
    wanted = [act("p1", "RedactColumn", "name", "ssn"), act("p2", "FilterRows", predicate="x = 1")]
    done = [act("p1", "RedactColumn", "ssn"), act("p2", "FilterRows", predicate="x = 1")]
    assert text(without(wanted, done)) == ["RedactColumn(name) by p1"]
    assert without(wanted, [act("p3", "RemoveColumn", "name", "ssn"), *done[1:]]) == []


def test_connector_specs(tmp_path: Path) -> None:
    tax = default_taxonomy()
    assert isinstance(open_catalog("file:cat", taxonomy=tax, base=tmp_path), FileCatalog)
    fybrik = open_catalog("fybrik:http://127.0.0.1:1", taxonomy=tax)
    assert isinstance(fybrik, FybrikCatalog)
    engine = open_policy_manager("builtin:pol", taxonomy=tax, base=tmp_path, default="deny")
    assert isinstance(engine, BuiltinPolicyEngine) and engine.directory == tmp_path / "pol" and engine.default == "deny"
    opa = open_policy_manager("opa:http://127.0.0.1:8181/v1/data/site/rules", taxonomy=tax)
    assert (
        isinstance(opa, OpaPolicyManager) and opa.path == "site/rules" and opa.http.base_url == "http://127.0.0.1:8181"
    )
    assert isinstance(open_policy_manager("opa:http://127.0.0.1:8181", taxonomy=tax), OpaPolicyManager)
    assert isinstance(open_policy_manager("fybrik:http://127.0.0.1:1", taxonomy=tax), FybrikPolicyManager)
    with pytest.raises(InvalidError, match=re.escape("catalog: must be one of file:..., fybrik:...")):
        open_catalog("ldap:x", taxonomy=tax)
    with pytest.raises(InvalidError, match=re.escape("policy: must be one of builtin:..., opa:..., fybrik:...")):
        open_policy_manager("builtin:", taxonomy=tax)
