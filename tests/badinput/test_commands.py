"""The other commands refuse bad input cleanly: unusable hub directories, options, hub.yaml, taxonomy
layers, connector specs, cluster onboarding (names, values, template files), module configurations, and
lookups of what is not there. Each case checks the exact refusal and that the hub did not change."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from m4d.cluster.local import LocalCluster
from tests.badinput import documents as d
from tests.badinput.harness import assert_refused, run_cli, unchanged
from tests.factories import application, member

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]
    code: int = 1
    files: dict[str, bytes] = field(default_factory=dict)  # in the working directory
    hub_files: dict[str, bytes] = field(default_factory=dict)  # in the hub directory
    # baseline | file | corrupt | member-corrupt | hub-yaml-is-directory | db-is-directory | truncated
    hub: str = "baseline"


def case(id: str, *args: str, says: tuple[str, ...], code: int = 1, **extra: object) -> Case:
    return Case(id, args, says, code, **extra)  # type: ignore[arg-type]


LATIN1 = "caf\xe9".encode("latin-1")


def _hub_dirs() -> list[Case]:
    file_says = ("is a file, not a directory",)
    corrupt = ("is not a store (not an SQLite database)", "m4d hub repair")
    return [
        case("hub-is-file-get", "get", "mc", says=file_says, hub="file"),
        case(
            "hub-is-file-apply",
            "apply",
            "-f",
            "ok.yaml",
            says=file_says,
            hub="file",
            files={"ok.yaml": d.member("ok").encode()},
        ),
        case("hub-is-file-run", "hub", "run", "--until-idle", "--no-gitops", says=file_says, hub="file"),
        case(
            "hub-is-file-onboard",
            "cluster",
            "onboard",
            "c1",
            "--template",
            "plain",
            "--region",
            "eu",
            says=file_says,
            hub="file",
        ),
        case("hub-corrupt-get", "get", "mc", says=corrupt, hub="corrupt"),
        case(
            "hub-corrupt-apply",
            "apply",
            "-f",
            "ok.yaml",
            says=corrupt,
            hub="corrupt",
            files={"ok.yaml": d.member("ok").encode()},
        ),
        case("hub-corrupt-describe", "describe", "mc", "x", says=corrupt, hub="corrupt"),
        case("hub-corrupt-run", "hub", "run", "--until-idle", "--no-gitops", says=corrupt, hub="corrupt"),
        case("hub-corrupt-cluster-list", "cluster", "list", says=corrupt, hub="corrupt"),
        case("hub-is-file-repair", "hub", "repair", says=("hub directory", "is a file, not a directory"), hub="file"),
        case(
            "hub-corrupt-repair-check",
            "hub",
            "repair",
            "--check",
            says=("1 damaged store (hub.db): run `m4d hub repair`",),
            hub="corrupt",
        ),
        case(
            "member-store-corrupt-agent",
            "agent",
            "--cluster",
            "m1",
            says=("cluster store", "members/m1.db is not a store (not an SQLite database)", "m4d hub repair"),
            hub="member-corrupt",
        ),
        case(
            "member-store-corrupt-blueprints",
            "get",
            "blueprints",
            "--cluster",
            "m1",
            says=("members/m1.db is not a store (not an SQLite database)",),
            hub="member-corrupt",
        ),
        case("hub-db-is-directory", "get", "mc", says=("cluster store", "hub.db", "cannot"), hub="db-is-directory"),
        case("hub-db-truncated", "get", "mc", says=("cluster store", "hub.db"), hub="truncated"),
    ]


def _lookups() -> list[Case]:
    return [
        case("get-unknown-kind", "get", "widgets", says=("Invalid value for KIND", "widgets"), code=2),
        case("get-missing-name", "get", "mc", "nope", says=("MemberCluster 'nope' not found on cluster hub",)),
        case("get-bad-output", "get", "mc", "-o", "xml", says=("Invalid value for '-o'",), code=2),
        case("get-selector-unclosed", "get", "mc", "-l", "a in (b", says=("selector",)),
        case("get-selector-bang", "get", "mc", "-l", "!", says=("selector",)),
        case("get-selector-empty-key", "get", "mc", "-l", "=b", says=("selector",)),
        case("get-selector-bad-key", "get", "mc", "-l", "bad key=x", says=("selector",)),
        case("get-selector-bad-value", "get", "mc", "-l", "a=b c", says=("selector",)),
        case("get-selector-long-key", "get", "mc", "-l", "k" * 300 + "=x", says=("selector",)),
        case("describe-missing", "describe", "m4dapplication", "nope", says=("M4DApplication 'nope' not found",)),
        case("describe-unknown-kind", "describe", "gadget", "x", says=("Invalid value for KIND",), code=2),
        case("delete-missing", "delete", "mc", "nope", says=("MemberCluster 'nope' not found",)),
        case(
            "delete-missing-namespaced",
            "delete",
            "m4dapplication",
            "nope",
            "-n",
            "other",
            says=("M4DApplication 'nope' not found in namespace other",),
        ),
        case("explain-missing", "explain", "m4dapplication", "nope", says=("M4DApplication 'nope' not found",)),
        case("unknown-command", "frobnicate", says=("No such command 'frobnicate'",), code=2),
        case("crds-out-is-file", "crds", "--out", "file.txt", says=("file.txt",), code=2, files={"file.txt": b"x"}),
    ]


def _options() -> list[Case]:
    seconds = "must be a number of seconds above 0"
    run = ("hub", "run", "--until-idle", "--no-gitops")
    return [
        case(
            "connector-timeout-negative",
            *run,
            "--connector-timeout",
            "-5",
            says=("--connector-timeout", seconds),
            code=2,
        ),
        case("connector-timeout-zero", *run, "--connector-timeout", "0", says=(seconds,), code=2),
        case("connector-timeout-nan", *run, "--connector-timeout", "nan", says=(seconds,), code=2),
        case("connector-timeout-inf", *run, "--connector-timeout", "inf", says=(seconds,), code=2),
        case(
            "connector-timeout-text", *run, "--connector-timeout", "soon", says=("is not a number of seconds",), code=2
        ),
        case("connector-timeout-huge", *run, "--connector-timeout", "1e12", says=(seconds,), code=2),
        case("run-timeout-negative", *run, "--timeout", "-1", says=("--timeout", seconds), code=2),
        case("run-resync-zero", *run, "--resync", "0", says=("--resync", seconds), code=2),
        case("run-workers-zero", *run, "--workers", "0", says=("--workers",), code=2),
        case("run-policy-default-maybe", *run, "--policy-default", "maybe", says=("--policy-default",), code=2),
        case(
            "catalog-spec-unknown",
            *run,
            "--catalog",
            "ldap:x",
            says=("catalog 'ldap:x'", "must be one of file:"),
        ),
        case("catalog-spec-empty", *run, "--catalog", "file:", says=("catalog 'file:'",)),
        case("policy-spec-unknown", *run, "--policy", "rego", says=("policy 'rego'", "must be one of builtin:")),
        case("taxonomy-missing", *run, "--taxonomy", "nope.json", says=("nope.json", "does not exist"), code=2),
        case(
            "agent-cluster-bad-name",
            "agent",
            "--cluster",
            "Bad_Name",
            says=("--cluster", "'Bad_Name' is no member cluster name", "lowercase RFC 1123 subdomain"),
            code=2,
        ),
        case(
            "sync-repo-missing",
            "sync",
            "--once",
            "--repo",
            "nope.git",
            says=("--repo", "'nope.git' is not a Git repository"),
            code=2,
        ),
        case(
            "sync-repo-is-file",
            "sync",
            "--once",
            "--repo",
            "file.txt",
            says=("'file.txt' is not a Git repository",),
            code=2,
            files={"file.txt": b"x"},
        ),
        case(
            "sync-branch-invalid",
            "sync",
            "--once",
            "--branch",
            "../main",
            says=("--branch", "'../main' is not a valid branch name"),
            code=2,
        ),
        case("agent-heartbeat-negative", "agent", "--cluster", "m1", "--heartbeat", "-1", says=(seconds,), code=2),
        case(
            "module-port-out-of-range",
            "module",
            "flight",
            "--config",
            "c.yaml",
            "--port",
            "70000",
            says=("--port", "70000"),
            code=2,
            files={"c.yaml": b"name: x\n"},
        ),
        case("demo-rows-zero", "demo", "--rows", "0", says=("--rows",), code=2),
    ]


def _hub_yaml() -> list[Case]:
    run = ("hub", "run", "--until-idle", "--no-gitops")

    def hub_yaml(id: str, text: bytes, *says: str) -> Case:
        return case(id, *run, says=("hub.yaml", *says), hub_files={"hub.yaml": text})

    return [
        hub_yaml("hub-yaml-latin1", b"catalog: " + LATIN1 + b"\n", "is not UTF-8 text: byte 0xe9 at line 1"),
        hub_yaml("hub-yaml-utf16", "catalog: file:x\n".encode("utf-16"), "is not UTF-8 text: byte 0xff"),
        hub_yaml("hub-yaml-syntax", b"catalog: [\n", "not valid YAML at line 2"),
        hub_yaml("hub-yaml-duplicate", b"catalog: file:a\ncatalog: file:b\n", "duplicate key 'catalog'"),
        hub_yaml("hub-yaml-unknown-field", b"catalogue: file:a\n", "catalogue"),
        hub_yaml("hub-yaml-negative-timeout", b"connectorTimeout: -5\n", "connectorTimeout", "greater than 0"),
        hub_yaml("hub-yaml-list", b"- catalog\n", "Input should be"),
        hub_yaml("hub-yaml-two-documents", b"catalog: file:a\n---\npolicy: builtin:b\n", "holds 2 YAML documents"),
        hub_yaml("hub-yaml-alias-bomb", d.alias_bomb(8).encode(), "expands to more than 1,000,000 values"),
        hub_yaml("hub-yaml-bad-catalog-spec", b"catalog: nowhere\n", "catalog: must be one of", "(got 'nowhere')"),
        hub_yaml("hub-yaml-timeout-text", b"connectorTimeout: soon\n", "connectorTimeout"),
        hub_yaml("hub-yaml-nul", b"catalog: \x00\n", "byte 0x00"),
        case(
            "hub-yaml-is-directory",
            *run,
            says=("hub.yaml", "cannot be read: Is a directory"),
            hub="hub-yaml-is-directory",
        ),
    ]


SECRET = b"s3cr3t-value"


def _secrets_file() -> list[Case]:
    def secrets(id: str, text: bytes, *says: str) -> Case:
        return case(
            id, "token", "x", says=("secrets file", "secrets.yaml is invalid", *says), hub_files={"secrets.yaml": text}
        )

    return [
        secrets("secrets-latin1", b"a: {password: " + LATIN1 + b"}\n", "is not UTF-8 text: byte 0xe9 at line 1"),
        secrets("secrets-utf16", "a: {password: x}\n".encode("utf-16"), "is not UTF-8 text: byte 0xff"),
        secrets("secrets-syntax", b"a:\n  password: " + SECRET + b": x\n", "not valid YAML at line 2"),
        secrets("secrets-duplicate", b"a: {password: x}\na: {password: y}\n", "duplicate key 'a'"),
        secrets("secrets-shape", b"a: " + SECRET + b"\n", "must map references to maps of strings"),
        secrets("secrets-list", b"- a\n", "must map references to maps of strings"),
        secrets("secrets-alias-bomb", d.alias_bomb(8).encode(), "expands to more than 1,000,000 values"),
    ]


def test_a_refused_secrets_file_is_never_quoted(baseline: Path, tmp_path: Path) -> None:
    for id_ in ("secrets-syntax", "secrets-shape"):
        hub = tmp_path / id_
        prepare("baseline", baseline, hub)
        (hub / "secrets.yaml").write_bytes(next(c for c in _secrets_file() if c.id == id_).hub_files["secrets.yaml"])
        outcome = run_cli(["--hub", str(hub), "token", "x"])
        assert outcome.code == 1 and SECRET.decode() not in outcome.text, outcome.text


def _taxonomy() -> list[Case]:
    run = ("hub", "run", "--until-idle", "--no-gitops", "--taxonomy", "layer.json")

    def layer(id: str, text: bytes, *says: str) -> Case:
        return case(id, *run, says=("taxonomy layer layer.json", *says), files={"layer.json": text})

    defs = {"definitions": {"ConnectionKinds": {"properties": {"ftp": {"$ref": "#/definitions/ftp"}}}}}
    return [
        layer("taxonomy-latin1", b'{"title": "' + LATIN1 + b'"}', "is not UTF-8 text: byte 0xe9"),
        layer("taxonomy-not-json", b"definitions: {}\n", "not valid JSON at line 1, column 1"),
        layer("taxonomy-duplicate", b'{"definitions": {}, "definitions": {}}', "duplicate key 'definitions'"),
        layer("taxonomy-deep", b'{"definitions": {"a": ' + b"[" * 150 + b"]" * 150 + b"}}", "nested deeper than 100"),
        layer("taxonomy-list", b"[]", "definitions: required (an object)"),
        layer("taxonomy-definitions-text", b'{"definitions": "x"}', "definitions: required (an object)"),
        layer(
            "taxonomy-definition-not-object",
            b'{"definitions": {"DataFormat": true}}',
            "definitions.DataFormat: must be an object (a JSON Schema)",
        ),
        layer(
            "taxonomy-not-a-schema", b'{"definitions": {"DataFormat": {"enum": "parquet"}}}', "not a valid JSON Schema"
        ),
        layer("taxonomy-bad-type", b'{"definitions": {"DataFormat": {"type": "texts"}}}', "not a valid JSON Schema"),
        layer("taxonomy-dangling-ref", json.dumps(defs).encode(), "'#/definitions/ftp' names no definition"),
        layer(
            "taxonomy-remote-ref",
            b'{"definitions": {"x": {"$ref": "http://example.com/s.json"}}}',
            "names no definition of the taxonomy",
        ),
        layer("taxonomy-fybrik-connection-true", b'{"definitions": {"Connection": true}}', "must be an object"),
        layer("taxonomy-nan", b'{"definitions": {"x": {"maximum": NaN}}}', "NaN is not valid JSON"),
        layer("taxonomy-empty", b"", "holds no JSON value"),
    ]


TEMPLATE = b"""description: t
parameters:
  - {name: region, required: true}
spec:
  region: ${region}
"""


def _onboarding() -> list[Case]:
    rule = "must be a lowercase RFC 1123 subdomain"
    onboard = ("cluster", "onboard")
    plain = ("--template", "plain", "--region", "eu")

    def template(id: str, text: bytes, *says: str) -> Case:
        return case(
            id, *onboard, "c1", "--template", "t.yaml", "--region", "eu", says=("t.yaml", *says), files={"t.yaml": text}
        )

    return [
        case("onboard-uppercase", *onboard, "BadName", *plain, says=("cluster name 'BadName'", rule)),
        case("onboard-underscore", *onboard, "a_b", *plain, says=("cluster name 'a_b'", rule)),
        case("onboard-too-long", *onboard, "a" * 300, *plain, says=(rule,)),
        case("onboard-empty-name", *onboard, "", *plain, says=("cluster name ''", rule)),
        case("onboard-slash", *onboard, "../etc", *plain, says=(rule,)),
        case("onboard-dash-start", *onboard, "-x", *plain, says=("No such option",), code=2),
        case(
            "onboard-set-no-equals", *onboard, "c1", *plain, "--set", "zone", says=("'zone' is not KEY=VALUE",), code=2
        ),
        case("onboard-set-empty-key", *onboard, "c1", *plain, "--set", "=x", says=("'=x' is not KEY=VALUE",), code=2),
        case(
            "onboard-set-unknown",
            *onboard,
            "c1",
            *plain,
            "--set",
            "zone=z",
            says=("zone: not a parameter of template plain",),
        ),
        case(
            "onboard-region-uppercase",
            *onboard,
            "c1",
            "--template",
            "plain",
            "--region",
            "EU",
            says=("region: must match",),
        ),
        case(
            "onboard-region-path",
            *onboard,
            "c1",
            "--template",
            "plain",
            "--region",
            "eu/../x",
            says=("region: must match",),
        ),
        case("onboard-region-empty", *onboard, "c1", "--template", "plain", "--region", "", says=("region: required",)),
        case("onboard-no-region", *onboard, "c1", "--template", "plain", says=("region: required",)),
        case(
            "onboard-server-not-url", *onboard, "c1", *plain, "--set", "server=not a url", says=("server: must match",)
        ),
        case(
            "onboard-server-newline",
            *onboard,
            "c1",
            *plain,
            "--set",
            "server=https://a\nb",
            says=("server: must match",),
        ),
        case(
            "onboard-zoned-tier",
            *onboard,
            "c1",
            "--template",
            "zoned",
            "--region",
            "eu",
            "--set",
            "zone=z1",
            "--set",
            "tier=gold",
            says=("tier: must be one of standard, restricted",),
        ),
        case(
            "onboard-zoned-no-zone", *onboard, "c1", "--template", "zoned", "--region", "eu", says=("zone: required",)
        ),
        case(
            "onboard-unknown-template",
            *onboard,
            "c1",
            "--template",
            "nope",
            "--region",
            "eu",
            says=("no cluster template 'nope'", "plain, zoned"),
        ),
        case("onboard-no-template", *onboard, "c1", says=("Missing option",), code=2),
        template("template-latin1", TEMPLATE.replace(b"t\n", LATIN1 + b"\n", 1), "is not UTF-8 text: byte 0xe9"),
        template("template-syntax", TEMPLATE + b"  zone: [\n", "not valid YAML"),
        template("template-duplicate", TEMPLATE + b"description: again\n", "duplicate key 'description'"),
        template("template-unknown-field", TEMPLATE + b"kind: MemberCluster\n", "kind"),
        template(
            "template-bad-pattern",
            TEMPLATE.replace(b"required: true}", b'required: true, pattern: "["}'),
            "not a regular expression",
        ),
        template(
            "template-undeclared-placeholder", TEMPLATE + b"  zone: ${zone}\n", "${zone} is not a declared parameter"
        ),
        template("template-bad-parameter-name", TEMPLATE.replace(b"name: region", b"name: 1region"), "name"),
        template(
            "template-spec-not-a-cluster",
            TEMPLATE.replace(b"  region: ${region}\n", b"  regions: x\n"),
            "MemberCluster from template",
        ),
        template("template-empty", b"", "spec: Field required"),
        template("template-list", b"- a\n", "Input should be"),
        template("template-alias-bomb", d.alias_bomb(8).encode(), "expands to more than 1,000,000 values"),
        template("template-deep", d.nested_block(120).encode(), "nested deeper than 100 levels"),
        template("template-utf16", TEMPLATE.decode().encode("utf-16"), "is not UTF-8 text"),
    ]


MODULE_CONFIG = b"""name: m
assets:
  - assetId: finance/tx
    capability: read
    source: {connection: {kind: file, properties: {path: /nowhere.parquet}}, format: parquet}
"""


def _module_configs() -> list[Case]:
    def config(id: str, text: bytes, *says: str, command: str = "flight") -> Case:
        return case(
            id, "module", command, "--config", "c.yaml", says=("module config c.yaml", *says), files={"c.yaml": text}
        )

    return [
        config("module-config-syntax", b"name: [\n", "line 2"),
        config("module-config-unknown-field", MODULE_CONFIG + b"extra: 1\n", "extra"),
        config("module-config-no-assets", b"name: m\nassets: []\n", "assets"),
        config(
            "module-config-bad-asset-id",
            MODULE_CONFIG.replace(b"finance/tx", b"../../etc/passwd"),
            "must be letters, digits",
        ),
        config(
            "module-config-shell-asset-id",
            MODULE_CONFIG.replace(b"finance/tx", b"'$(rm -rf /)'"),
            "must be letters, digits",
        ),
        config("module-config-port", MODULE_CONFIG + b"listen: {port: 70000}\n", "listen.port"),
        config("module-config-list", b"- a\n", "Input should be"),
        config(
            "module-config-token-digest",
            MODULE_CONFIG + b"clients: [{application: a/b, tokenSha256: x}]\n",
            "tokenSha256",
        ),
        config("module-config-latin1", MODULE_CONFIG.replace(b"name: m", b"name: " + LATIN1), "is not UTF-8"),
        config("module-config-utf16", MODULE_CONFIG.decode().encode("utf-16"), "is not UTF-8"),
        config("module-config-duplicate", MODULE_CONFIG + b"name: again\n", "key 'name' is repeated"),
        config("module-config-alias-bomb", d.alias_bomb(8).encode(), "expands to more than"),
        config("module-config-deep", b"name: " + b"[" * 5000 + b"]" * 5000 + b"\n", "c.yaml"),
        config("module-config-huge", b"name: m\n# " + b"x" * (17 * 1024 * 1024), "is larger than"),
        config("module-config-copy-syntax", b"name: {\n", "line 2", command="copy"),
        config("module-config-copy-batch", MODULE_CONFIG + b"batchRows: 0\n", "batchRows", command="copy"),
    ]


CLASSES = {
    "unusable hub directories": _hub_dirs(),
    "lookups and usage": _lookups(),
    "option values": _options(),
    "hub.yaml": _hub_yaml(),
    "taxonomy layers": _taxonomy(),
    "secrets file": _secrets_file(),
    "cluster onboarding and templates": _onboarding(),
    "module configurations": _module_configs(),
}
CASES = [c for cases in CLASSES.values() for c in cases]


def make_baseline(hub: Path) -> Path:
    store = LocalCluster(hub / "hub.db", name="hub")
    store.create(application("existing", "default"))
    store.create(member("m1"))
    store.close()
    return hub


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_baseline(tmp_path_factory.mktemp("baseline") / "hub")


def prepare(kind: str, base: Path, hub: Path) -> None:
    """The hub directory a case runs on: a copy of the baseline, or something unusable in its place."""
    match kind:
        case "baseline":
            shutil.copytree(base, hub)
        case "file":
            hub.write_bytes(b"not a directory\n")
        case "corrupt":
            hub.mkdir()
            (hub / "hub.db").write_bytes(b"garbage, not SQLite" * 100)
        case "member-corrupt":
            shutil.copytree(base, hub)
            (hub / "members").mkdir(exist_ok=True)
            (hub / "members" / "m1.db").write_bytes(b"garbage, not SQLite" * 100)
        case "hub-yaml-is-directory":
            shutil.copytree(base, hub)
            (hub / "hub.yaml").mkdir()
        case "db-is-directory":
            (hub / "hub.db").mkdir(parents=True)
        case "truncated":
            shutil.copytree(base, hub)
            (hub / "hub.db").write_bytes((base / "hub.db").read_bytes()[:1500])


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_command_refuses_cleanly(case: Case, baseline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = tmp_path / "hub"
    prepare(case.hub, baseline, hub)
    for name, data in case.hub_files.items():
        (hub / name).write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    for name, data in case.files.items():
        (work / name).write_bytes(data)
    monkeypatch.chdir(work)
    monkeypatch.setenv("M4D_CLUSTER_TEMPLATES", str(ROOT / "cluster-templates"))
    with unchanged(hub):
        outcome = run_cli(["--hub", str(hub), *case.args])
    assert_refused(outcome, case.says, case.code)
