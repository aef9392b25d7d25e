"""Broken and slow neighbours: catalogs and policy managers that answer badly, too much, too slowly or not
at all, and catalog and policy files that cannot be read. The application controller turns each into an
asset condition that names the connector or file and what was wrong, stores no Plotter and changes
nothing in the hub; one broken catalog file takes only its own assets down."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from m4d.api import M4DApplication
from m4d.api.application import AssetState
from m4d.cluster.local import LocalCluster
from m4d.connectors.catalog import Catalog, FileCatalog, FybrikCatalog
from m4d.connectors.fybrik import asset_to_fybrik
from m4d.connectors.http import RetryPolicy
from m4d.connectors.policy import BuiltinPolicyEngine, FybrikPolicyManager, OpaPolicyManager, PolicyManager
from m4d.controllers.application.controller import ApplicationController
from tests.badinput import documents as d
from tests.badinput.harness import hub_state
from tests.badinput.servers import Behaviour, Misbehaving, closed_port, misbehaving
from tests.unit.governance.world import MODULES, SAMPLE_CATALOG, SAMPLE_POLICIES, STORAGE, application, cluster

FIN = "finance/transactions"
HR = "hr/employees"
ONCE = RetryPolicy(attempts=1)
# Whole-request timeout: long enough for an instant answer on a starved machine (a load of 20 on 2 cores
# made 3 s too short), short enough for the few cases that wait it out.
TIMEOUT = 6.0
GOOD_ASSET = asset_to_fybrik(FileCatalog(SAMPLE_CATALOG).get_asset(FIN))
LATIN1 = "caf\xe9".encode("latin-1")
MiB = 1024 * 1024


def answer(obj: object) -> bytes:
    return json.dumps(obj).encode()


def asset_with(**changes: object) -> bytes:
    body = json.loads(json.dumps(GOOD_ASSET))
    for path, value in changes.items():
        node = body
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    return answer(body)


@dataclass(frozen=True)
class Case:
    id: str
    behaviour: Behaviour | None  # None: nothing listens
    reason: str
    says: tuple[str, ...]


def _http_answers(kind: str) -> list[Case]:
    """What any JSON-over-HTTP connector can get wrong; `kind` is the reason prefix (Catalog, PolicyManager)."""
    down, bad = f"{kind}Unavailable", f"{kind}Error"
    unusable = "answered with a body that is not usable JSON"
    return [
        Case("not-utf8", Behaviour(b'{"a": "' + LATIN1 + b'"}'), bad, (unusable, "is not UTF-8 text: byte 0xe9")),
        Case("utf16", Behaviour('{"a": 1}'.encode("utf-16")), bad, (unusable, "byte 0xff")),
        Case("nul-byte", Behaviour(b'{"a": "\x00"}'), bad, (unusable, "byte 0x00")),
        Case("deep-200000", Behaviour(b"[" * 200_000 + b"]" * 200_000), bad, ("nested deeper than 100 levels",)),
        Case("deep-150", Behaviour(b'{"a":' * 150 + b"1" + b"}" * 150), bad, ("nested deeper than 100 levels",)),
        Case("duplicate-keys", Behaviour(b'{"a": 1, "a": 2}'), bad, (unusable, "duplicate key 'a'")),
        Case("nan", Behaviour(b'{"a": NaN}'), bad, ("NaN is not valid JSON",)),
        Case("two-values", Behaviour(b"{}{}"), bad, ("holds 2 JSON values",)),
        Case("empty-body", Behaviour(b""), bad, ("holds no JSON value",)),
        Case("html", Behaviour(b"<html>oops</html>"), bad, (unusable, "not valid JSON at line 1, column 1")),
        Case("binary", Behaviour(bytes(range(1, 256))), bad, (unusable,)),
        Case("over-16mib", Behaviour(b'["' + b"x" * (17 * MiB) + b'"]'), bad, ("more than 16,777,216 bytes",)),
        Case(
            "gzip-bomb", Behaviour(b'["' + b"x" * (17 * MiB) + b'"]', gzip=True), bad, ("more than 16,777,216 bytes",)
        ),
        Case(
            "trickle",
            Behaviour(answer({"a": "x" * 100}), byte_every=0.5),
            down,
            (f"no whole answer within {TIMEOUT:g}s",),
        ),
        Case("silent-after-headers", Behaviour(b"{}", silent_after_headers=30), down, ("no whole answer within",)),
        Case("silent-before-headers", Behaviour(b"{}", silent_before_headers=30), down, ("no whole answer within",)),
        Case("hangs-up-half-way", Behaviour(answer({"a": "x" * 1000}), close_early=True), down, ("cannot connect",)),
        Case("refused", None, down, ("cannot connect",)),
        Case("http-500", Behaviour(b"boom", status=500), down, ("HTTP 500: boom",)),
        Case("http-503-html", Behaviour(b"<h1>down</h1>", status=503), down, ("HTTP 503",)),
        Case("http-429", Behaviour(b"slow down", status=429), down, ("HTTP 429",)),
        Case("http-400", Behaviour(b'{"error": "bad request"}', status=400), bad, ("rejected the request: HTTP 400",)),
        Case("http-401", Behaviour(b"who are you", status=401), bad, ("rejected the request: HTTP 401",)),
        Case(
            "http-302",
            Behaviour(b"", status=302, headers={"Location": "http://example.com/"}),
            bad,
            ("answered HTTP 302 (redirects are not followed)",),
        ),
        Case("json-list", Behaviour(b"[]"), bad, ("must be a JSON object (got list)",)),
        Case("json-string", Behaviour(b'"ok"'), bad, ("must be a JSON object (got str)",)),
    ]


def _catalog_answers() -> list[Case]:
    bad = "CatalogError"
    return [
        *_http_answers("Catalog"),
        Case("http-404", Behaviour(b"no such asset", status=404), "AssetNotFound", ("has no asset", "HTTP 404")),
        Case("missing-details", Behaviour(answer({"resourceMetadata": {}})), bad, ("details",)),
        Case("details-not-object", Behaviour(asset_with(details="s3")), bad, ("details",)),
        Case("tags-list", Behaviour(asset_with(resourceMetadata__tags=["finance"])), bad, ("tags",)),
        Case(
            "unknown-connection",
            Behaviour(asset_with(details__connection={"name": "ftp", "ftp": {}})),
            bad,
            ("connection", "ftp"),
        ),
        Case(
            "connection-missing-path",
            Behaviour(asset_with(details__connection={"name": "file", "file": {}})),
            bad,
            ("connection", "path"),
        ),
        Case("unknown-format", Behaviour(asset_with(details__dataFormat="xlsx")), bad, ("format", "xlsx")),
        Case("columns-not-list", Behaviour(asset_with(resourceMetadata__columns="id")), bad, ("columns",)),
        Case(
            "duplicate-columns",
            Behaviour(asset_with(resourceMetadata__columns=[{"name": "id"}, {"name": "id"}])),
            bad,
            ("column 'id' is listed twice",),
        ),
        Case("empty-column-name", Behaviour(asset_with(resourceMetadata__columns=[{"name": ""}])), bad, ("columns",)),
        Case("credentials-number", Behaviour(asset_with(credentials=42)), bad, ("credentials",)),
        Case("bad-tag", Behaviour(asset_with(resourceMetadata__tags={"no tag!": True})), bad, ("no tag!",)),
    ]


def _policy_answers() -> list[Case]:
    bad = "PolicyManagerError"
    decision = {"decision_id": "d1", "result": []}

    def result(*items: object) -> Behaviour:
        return Behaviour(answer({**decision, "result": list(items)}))

    return [
        *_http_answers("PolicyManager"),
        Case("http-404", Behaviour(b"gone", status=404), bad, ("HTTP 404",)),
        Case("no-result", Behaviour(answer({"decision_id": "d1"})), bad, ("result",)),
        Case("result-not-list", Behaviour(answer({**decision, "result": {"policy": "p"}})), bad, ("result",)),
        Case("item-without-action", result({"policy": "p"}), bad, ("action",)),
        Case("unknown-action", result({"policy": "p", "action": {"name": "Obliterate"}}), bad, ("Obliterate",)),
        Case(
            "columns-not-list",
            result({"policy": "p", "action": {"name": "RedactColumn", "columns": "ssn"}}),
            bad,
            ("columns",),
        ),
        Case(
            "hash-without-key",
            result({"policy": "p", "action": {"name": "HashColumn", "columns": ["ssn"]}}),
            bad,
            ("result[0].action.options: required",),
        ),
        Case("policy-not-string", result({"policy": {"a": 1}, "action": {"name": "Deny"}}), bad, ("policy",)),
    ]


CATALOG_CASES = _catalog_answers()
POLICY_CASES = _policy_answers()
OPA_CASES = [
    Case("opa-no-document", Behaviour(answer({})), "PolicyManagerError", ("has no document at data.m4d.decisions",)),
    Case("opa-result-object", Behaviour(answer({"result": {"policy": "p"}})), "PolicyManagerError", ("result",)),
    Case(
        "opa-unknown-action",
        Behaviour(answer({"result": [{"policy": "p", "action": {"name": "Zap"}}]})),
        "PolicyManagerError",
        ("Zap",),
    ),
    Case(
        "opa-trickle",
        Behaviour(answer({"result": []}), byte_every=0.5),
        "PolicyManagerUnavailable",
        ("no whole answer within",),
    ),
    Case("opa-not-utf8", Behaviour(b'{"result": "' + LATIN1 + b'"}'), "PolicyManagerError", ("byte 0xe9",)),
]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[LocalCluster]:
    store = LocalCluster(tmp_path / "hub" / "hub.db", name="hub")
    for name in ("arrow-flight", "implicit-copy"):
        store.create(MODULES[name])
    for name, region in (("eu-de-1", "eu-de"), ("eu-fr-1", "eu-fr")):
        store.create(cluster(name, region))
    store.create(STORAGE["eu-fr-store"])
    store.create(application([FIN], "Fraud Detection"))
    yield store
    store.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Misbehaving]:
    with misbehaving() as running:
        yield running


def reconcile(hub: LocalCluster, catalog: Catalog, policy: PolicyManager, app: str = "app") -> dict[str, AssetState]:
    """One reconcile of the application; the hub must be the same afterwards (no Plotter, nothing else)."""
    controller = ApplicationController(hub, catalog=catalog, policy=policy)
    before = hub_state(hub.path.parent)
    try:
        outcome = controller.reconcile(hub.get(M4DApplication, app, "default"))
    finally:
        controller.close()
    assert hub_state(hub.path.parent) == before, "a refused answer changed the hub"
    assert outcome.status is not None
    return dict(outcome.status.asset_states)  # type: ignore[attr-defined]


def assert_condition(state: AssetState, reason: str, says: tuple[str, ...]) -> None:
    on = [c for c in state.conditions if c.status == "True"]
    assert [c.type for c in on] == ["Error"], state.conditions
    assert on[0].reason == reason, on[0]
    for phrase in says:
        assert phrase in on[0].message, f"{phrase!r} not in {on[0].message!r}"
    assert "Traceback" not in on[0].message


def _url(server: Misbehaving, case: Case) -> str:
    if case.behaviour is None:
        return closed_port()
    server.behave(case.behaviour)
    return server.url


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CATALOG_CASES, ids=[c.id for c in CATALOG_CASES])
def test_catalog_answer_is_refused(case: Case, hub: LocalCluster, server: Misbehaving) -> None:
    url = _url(server, case)
    started = time.monotonic()
    states = reconcile(hub, FybrikCatalog(url, timeout=TIMEOUT, retry=ONCE), BuiltinPolicyEngine(SAMPLE_POLICIES))
    assert_condition(states[FIN], case.reason, (f"catalog fybrik:{url}", *case.says))
    assert time.monotonic() - started < 30, "the catalog held the controller"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", POLICY_CASES, ids=[c.id for c in POLICY_CASES])
def test_policy_answer_is_refused(case: Case, hub: LocalCluster, server: Misbehaving) -> None:
    url = _url(server, case)
    policy = FybrikPolicyManager(url, timeout=TIMEOUT, retry=ONCE)
    states = reconcile(hub, FileCatalog(SAMPLE_CATALOG), policy)
    assert_condition(states[FIN], case.reason, (f"policy manager fybrik:{url}", *case.says))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", OPA_CASES, ids=[c.id for c in OPA_CASES])
def test_opa_answer_is_refused(case: Case, hub: LocalCluster, server: Misbehaving) -> None:
    url = _url(server, case)
    policy = OpaPolicyManager(url, timeout=TIMEOUT, retry=ONCE)
    states = reconcile(hub, FileCatalog(SAMPLE_CATALOG), policy)
    assert_condition(states[FIN], case.reason, (f"policy manager opa:{url}", *case.says))


# -- files ------------------------------------------------------------------------------------------

OTHER = b"""assets:
  - id: other/asset
    geography: eu-de
    connection: {kind: file, properties: {path: /data/other.parquet}}
    format: parquet
"""


@dataclass(frozen=True)
class FileCase:
    id: str
    text: bytes
    says: tuple[str, ...]


CATALOG_FILE_CASES = [
    FileCase("latin1", OTHER.replace(b"eu-de", b"eu-" + LATIN1), ("is not UTF-8 text: byte 0xe9 at line 3",)),
    FileCase("utf16", OTHER.decode().encode("utf-16"), ("is not UTF-8 text: byte 0xff",)),
    FileCase("syntax", OTHER + b"  - {id: [\n", ("not valid YAML at line",)),
    FileCase("duplicate-key", OTHER + b"assets: []\n", ("duplicate key 'assets'",)),
    FileCase("deep", b"assets: " + b"[" * 150 + b"]" * 150, ("nested deeper than 100 levels",)),
    FileCase("alias-bomb", d.alias_bomb(8).encode(), ("expands to more than 1,000,000 values",)),
    FileCase("not-a-mapping", b"- a\n", ("must hold a list under `assets:`",)),
    FileCase("assets-not-list", b"assets: {id: x}\n", ("must hold a list under `assets:`",)),
    FileCase("two-documents", OTHER + b"---\n" + OTHER, ("holds 2 YAML documents",)),
    FileCase("over-16mib", b"assets: []\n# " + b"x" * (17 * MiB), ("is larger than 16.0 MiB",)),
    FileCase("nul", OTHER + b"\x00", ("byte 0x00",)),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CATALOG_FILE_CASES, ids=[c.id for c in CATALOG_FILE_CASES])
def test_one_broken_catalog_file_takes_down_only_its_assets(case: FileCase, hub: LocalCluster, tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    shutil.copy(SAMPLE_CATALOG / "assets.yaml", folder / "assets.yaml")
    (folder / "broken.yaml").write_bytes(case.text)
    hub.create(application(["other/asset"], "Fraud Detection", name="other"))
    catalog = FileCatalog(folder)
    # The one asset only the broken file could hold is refused, naming the file and the problem ...
    states = reconcile(hub, catalog, BuiltinPolicyEngine(SAMPLE_POLICIES), "other")
    assert_condition(states["other/asset"], "CatalogError", (str(folder / "broken.yaml"), *case.says))
    # ... while an asset of the good file is planned as before.
    controller = ApplicationController(hub, catalog=catalog, policy=BuiltinPolicyEngine(SAMPLE_POLICIES))
    good = controller.reconcile(hub.get(M4DApplication, "app", "default"))
    assert good.status is not None
    fin = good.status.asset_states[FIN]  # type: ignore[attr-defined]
    assert [c.type for c in fin.conditions if c.status == "True"] == ["Ready"]


POLICY_FILE_CASES = [
    FileCase("latin1", b"policies:\n  - name: caf" + LATIN1 + b"\n    deny: true\n", ("byte 0xe9 at line 2",)),
    FileCase("syntax", b"policies: [\n", ("not valid YAML at line 2",)),
    FileCase("duplicate-key", b"policies: []\npolicies: []\n", ("duplicate key 'policies'",)),
    FileCase("unknown-field", b"rules: []\n", ("rules",)),
    FileCase("unknown-action", b"policies:\n  - {name: x, action: {name: Zap}}\n", ("action.name",)),
    FileCase("both-effects", b"policies:\n  - {name: x, deny: true, allow: true}\n", ("exactly one effect",)),
    FileCase("default-disagrees", b"default: deny\npolicies: []\n", ("policy files disagree on the default",)),
    FileCase(
        "same-name", b"policies:\n  - {name: hash-ids-for-fraud-detection, deny: true}\n", ("is also defined in",)
    ),
    FileCase("deep", b"policies: " + b"[" * 150 + b"]" * 150, ("nested deeper than 100 levels",)),
    FileCase("alias-bomb", d.alias_bomb(8).encode(), ("expands to more than 1,000,000 values",)),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", POLICY_FILE_CASES, ids=[c.id for c in POLICY_FILE_CASES])
def test_a_broken_policy_file_decides_nothing(case: FileCase, hub: LocalCluster, tmp_path: Path) -> None:
    """Unlike a catalog file, any broken policy file stops every decision: deciding on part of the policies
    could allow what the broken file denies."""
    folder = tmp_path / "policies"
    folder.mkdir()
    shutil.copy(SAMPLE_POLICIES / "policies.yaml", folder / "policies.yaml")
    (folder / "broken.yaml").write_bytes(case.text)
    states = reconcile(hub, FileCatalog(SAMPLE_CATALOG), BuiltinPolicyEngine(folder))
    assert_condition(states[FIN], "PolicyManagerError", (str(folder / "broken.yaml"), *case.says))


CLASSES: dict[str, list[Case] | list[FileCase]] = {
    "catalog answers (Fybrik API)": CATALOG_CASES,
    "policy answers (Fybrik API)": POLICY_CASES,
    "policy answers (OPA)": OPA_CASES,
    "catalog files": CATALOG_FILE_CASES,
    "policy files": POLICY_FILE_CASES,
}
CASES = [c for cases in CLASSES.values() for c in cases]
