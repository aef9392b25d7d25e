"""`m4d apply` refuses bad input whole: encodings, syntax, duplicate keys, depth, size, aliases, values JSON
cannot hold, documents that are not resources, schema errors, kubectl's strictness, and documents only the
store can refuse. Each case checks the exact refusal and that the hub did not change at all."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from m4d.api import M4DApplication, MemberCluster
from m4d.cluster.local import LocalCluster
from tests.badinput import documents as d
from tests.badinput.harness import assert_refused, run_cli, unchanged
from tests.factories import application, member

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, bytes]
    says: tuple[str, ...]
    args: tuple[str, ...] = ("apply", "-f", "bad.yaml")
    stdin: bytes = b""
    code: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def bad(text: str | bytes, *says: str, name: str = "bad.yaml", case: str) -> Case:
    data = text.encode() if isinstance(text, str) else text
    return Case(case, {name: data}, says, ("apply", "-f", name))


def piped(data: bytes, *says: str, case: str) -> Case:
    return Case(case, {}, says, ("apply", "-f", "-"), stdin=data)


GOOD = d.member("fresh")
LATIN1 = f"apiVersion: {d.API}\nkind: MemberCluster\nmetadata: {{name: m9}}\nspec: {{region: caf\xe9}}\n"


def _encodings() -> list[Case]:
    not_utf8 = "is not UTF-8 text"
    cases = [
        bad(LATIN1.encode("latin-1"), "bad.yaml", not_utf8, "byte 0xe9 at line 4, column 19", case="latin1-value"),
        bad(("# caf\xe9\n" + GOOD).encode("latin-1"), "byte 0xe9 at line 1, column 6", case="latin1-comment"),
        bad(GOOD.replace("fresh", "fr\u201cesh\u201d").encode("cp1252"), "byte 0x93", case="cp1252-quotes"),
        bad(GOOD.encode("utf-16"), "byte 0xff at line 1, column 1", case="utf16-bom"),
        bad(GOOD.encode("utf-16-le"), "byte 0x00", "line 1, column 2", case="utf16le-no-bom"),
        bad(GOOD.encode("utf-16-be"), "byte 0x00 at line 1, column 1", case="utf16be-no-bom"),
        bad(GOOD.encode("utf-32"), "byte 0xff at line 1, column 1", case="utf32-bom"),
        bad(GOOD.encode() + b"# \x80\n", "byte 0x80", case="lone-continuation"),
        bad(GOOD.encode() + b"# \xe2\x82", "byte 0xe2", case="truncated-at-end"),
        bad(GOOD.encode() + b"# \xc0\xaf\n", "byte 0xc0", case="overlong"),
        bad(GOOD.encode() + b"# \xed\xa0\x80\n", "byte 0xed", case="encoded-surrogate"),
        bad(b"\xff\xfe\xfd" + GOOD.encode(), "byte 0xff at line 1, column 1", case="garbage-start"),
        bad("名前: x\n".encode("shift_jis"), "is not UTF-8 text", case="shift-jis"),
        bad("名字: x\n".encode("gb2312"), "is not UTF-8 text", case="gb2312"),
        bad(d.stream(GOOD, LATIN1).decode().encode("latin-1"), "byte 0xe9 at line 11", case="second-document-latin1"),
        bad(
            json.dumps(d.member_json(region="x")).replace('"x"', '"caf\xe9"').encode("latin-1"),
            "byte 0xe9",
            name="bad.json",
            case="json-latin1",
        ),
        piped(LATIN1.encode("latin-1"), "<stdin>", "byte 0xe9 at line 4, column 19", case="stdin-latin1"),
        piped(GOOD.encode("utf-16"), "<stdin>", "byte 0xff", case="stdin-utf16"),
    ]
    both = Case(
        "dir-one-file-latin1",
        {"dir/a.yaml": GOOD.encode(), "dir/b.yaml": LATIN1.encode("latin-1")},
        ("dir/b.yaml", "byte 0xe9"),
        ("apply", "-f", "dir"),
    )
    return [*cases, both]


def _syntax() -> list[Case]:
    return [
        bad("a: [1, 2\n", "not valid YAML at line 2", case="unclosed-flow-sequence"),
        bad("a: {b: 1\n", "not valid YAML at line 2", case="unclosed-flow-mapping"),
        bad('a: "open\n', "not valid YAML at line 2", "found unexpected end of stream", case="unclosed-quote"),
        bad("a:\n\tb: 1\n", "not valid YAML at line 2, column 1", case="tab-indent"),
        bad(
            "a: b: c\n",
            "not valid YAML at line 1",
            "mapping values are not allowed in this context",
            case="nested-colon",
        ),
        bad("a:\n  b: 1\n c: 2\n", "not valid YAML at line 3", case="bad-dedent"),
        bad("a: *nope\n", "not valid YAML at line 1", "undefined alias", case="undefined-alias"),
        bad("a: &x 1\nb: &x 2\nc: *x\n" + GOOD, "not valid YAML", case="garbage-after-aliases"),
        bad("a: \x07\n", "line 1, column 4: control character U+0007 is not allowed", case="bell-char"),
        bad("a: \x00\n", "is not UTF-8 text: byte 0x00 at line 1, column 4 (UTF-16, or binary data?)", case="nul-char"),
        bad("a: \x1b[31m\n", "control character U+001B is not allowed", case="escape-char"),
        bad("- a\nb: c\n", "not valid YAML at line 2", case="list-then-mapping"),
        bad("%YAML 9.9\n---\na: 1\n", "not valid YAML", case="yaml-version"),
        bad(
            "!!python/object:os.system\nx: 1\n",
            "not valid YAML",
            "could not determine a constructor",
            case="python-object-tag",
        ),
        bad("a: !!python/name:os.system ''\n", "could not determine a constructor", case="python-name-tag"),
        bad(GOOD + "---\n[unclosed\n", "not valid YAML at line", case="second-document-syntax"),
        bad("key: 'it''s' extra'\n", "not valid YAML", case="quote-then-text"),
        bad("? [a, b\n: 1\n", "not valid YAML", case="complex-key-unclosed"),
    ]


def _duplicates() -> list[Case]:
    dup = "duplicate key"
    return [
        bad(GOOD + "kind: MemberCluster\n", dup, "'kind'", "line 7", "first at line 2", case="dup-top-level"),
        bad(GOOD.replace("  name: fresh\n", "  name: fresh\n  name: other\n"), dup, "'name'", case="dup-name"),
        bad(GOOD + "  region: us\n", dup, "'region'", case="dup-region"),
        bad(d.member("m3", "  labels: {team: a, team: b}\n"), dup, "'team'", case="dup-label-flow"),
        bad(d.member("m3", "  labels:\n    team: a\n    team: b\n"), dup, "'team'", case="dup-label-block"),
        bad(d.member("m3", "  labels: {1: a, '1': b}\n"), dup, "'1'", case="dup-int-and-string-key"),
        bad(d.member("m3", "  labels: {yes: a, 'true': b}\n"), dup, "'true'", case="dup-bool-and-string-key"),
        bad(d.stream(GOOD, GOOD + "spec: {}\n"), dup, "'spec'", case="dup-in-second-document"),
        bad(
            d.app("dupdata").replace("      requirements:", "      dataSetID: other\n      requirements:"),
            dup,
            "'dataSetID'",
            case="dup-in-list-item",
        ),
        bad(
            '{"apiVersion": "app.m4d.dev/v1alpha1", "kind": "MemberCluster", "kind": "MemberCluster", '
            '"metadata": {"name": "j"}, "spec": {"region": "eu"}}',
            "bad.json",
            "duplicate key 'kind'",
            name="bad.json",
            case="dup-json-file",
        ),
        piped(
            b'{"apiVersion":"app.m4d.dev/v1alpha1","kind":"MemberCluster","metadata":{"name":"j","name":"k"},'
            b'"spec":{"region":"eu"}}',
            "<stdin>",
            "duplicate key 'name'",
            case="dup-json-stdin",
        ),
        Case(
            "dup-json-in-directory",
            {"dir/a.yaml": GOOD.encode(), "dir/b.json": b'{"kind": "x", "kind": "y"}'},
            ("dir/b.json", "duplicate key 'kind'"),
            ("apply", "-f", "dir"),
        ),
    ]


def _depth_size_aliases() -> list[Case]:
    return [
        bad(d.nested_block(101), "document 1 is nested deeper than 100 levels", case="block-depth-101"),
        bad(d.nested_flow(150), "document 1 is nested deeper than 100 levels", case="flow-depth-150"),
        bad(d.nested_flow(10_000), "not valid YAML", "exceeded maximum nesting depth", case="flow-depth-10000"),
        bad(d.nested_block(1_200), "not valid YAML", "exceeded maximum nesting depth", case="block-depth-1200"),
        bad(
            "[" * 101 + "]" * 101,
            "value 1 (line 1) is nested deeper than 100 levels",
            name="deep.json",
            case="json-depth-101",
        ),
        bad("[" * 200_000 + "]" * 200_000, "nested deeper than 100 levels", name="deep.json", case="json-depth-200000"),
        bad(d.alias_bomb(9), "expands to more than 1,000,000 values through its aliases", case="alias-bomb"),
        bad(d.alias_bomb(7, "annotations"), "expands to more than 1,000,000 values", case="alias-bomb-small"),
        bad(
            d.member("big") + "  zone: " + "z" * (3 * 1024 * 1024 + 10) + "\n",
            "the document at line 1 is larger than 3.0 MiB",
            case="document-over-3mib",
        ),
        bad(b"a: " + b"x" * (50 * 1024 * 1024), "the document at line 1 is larger than 3.0 MiB", case="document-50mb"),
        bad(d.many_data(100_000), "is larger than 3.0 MiB", case="data-entries-100000"),
        bad(
            d.stream(GOOD, d.member("z") + "  zone: " + "z" * (3 * 1024 * 1024 + 10) + "\n"),
            "the document at line 7 is larger than 3.0 MiB",
            case="second-document-over-3mib",
        ),
        bad(
            d.big_labels("toolarge", 2 * 1024 * 1024),
            "document 1 (MemberCluster toolarge)",
            "is too large to store",
            "over the 1,572,864 etcd stores",
            case="object-over-1.5mib",
        ),
        bad(
            d.stream(GOOD, d.big_labels("toolarge", 1600 * 1024)),
            "1 of 2 document(s) refused by cluster hub",
            "document 2 (MemberCluster toolarge)",
            "is too large to store",
            case="second-object-over-1.5mib",
        ),
        bad(b"x" * (65 * 1024 * 1024), "bad.yaml", "is larger than 64.0 MiB", case="file-over-64mib"),
    ]


def _values() -> list[Case]:
    cannot = "cannot be stored (only text, numbers, lists, mappings)"
    return [
        bad(
            d.member("v", "  annotations: {b: !!binary aGVsbG8=}\n"),
            "document 1: binary data " + cannot,
            case="binary-value",
        ),
        bad(d.member("v", "  annotations: !!set {a, b}\n"), "a set " + cannot, case="set-value"),
        bad(d.member("v", "  annotations: !!omap [a: 1]\n"), "an ordered mapping " + cannot, case="omap-value"),
        bad(d.member("v", "  annotations: !!pairs [a: 1]\n"), "an ordered mapping " + cannot, case="pairs-value"),
        bad(GOOD + "  zone: .nan\n", "document 1: nan is not a number JSON can hold", case="nan"),
        bad(GOOD + "  zone: .inf\n", "inf is not a number JSON can hold", case="inf"),
        bad(GOOD + "  zone: -.inf\n", "-inf is not a number JSON can hold", case="negative-inf"),
        bad(d.member("v", "  labels: {1.5: a}\n"), "a mapping key must be text, not a number", case="float-key"),
        bad(d.member("v", "  labels: {~: a}\n"), "a mapping key must be text, not null", case="null-key"),
        bad(d.member("v", "  labels: {[a]: b}\n"), "a mapping key must be text, not a list", case="list-key"),
        bad(
            d.member("v", "  labels: {2024-01-01: 1}\n"),
            "metadata.labels: must map strings to strings",
            case="date-key-number-value",
        ),
        bad(d.member("v", "  labels: {a: !custom x}\n"), "could not determine a constructor", case="custom-tag"),
        bad(
            '{"apiVersion": "app.m4d.dev/v1alpha1", "kind": "MemberCluster", "metadata": {"name": "j"}, '
            '"spec": {"region": NaN}}',
            "NaN is not valid JSON",
            name="bad.json",
            case="json-nan",
        ),
        bad('{"a": Infinity}', "Infinity is not valid JSON", name="bad.json", case="json-infinity"),
        bad('{"a": 1} trailing', "not valid JSON at line 1, column 10", name="bad.json", case="json-trailing"),
        bad('{"a": 1,}', "not valid JSON at line 1, column 9", name="bad.json", case="json-trailing-comma"),
        bad("{'a': 1}", "not valid JSON at line 1, column 2", name="bad.json", case="json-single-quotes"),
    ]


def _shapes() -> list[Case]:
    resource = "a resource must be a mapping with apiVersion and kind"
    return [
        bad("- a\n- b\n", "bad.yaml, document 1", resource, case="document-is-list"),
        bad("just text\n", "bad.yaml, document 1", resource, case="document-is-text"),
        bad("42\n", resource, case="document-is-number"),
        bad(
            d.stream(GOOD, "[1, 2]\n"),
            "1 of 2 document(s) invalid, nothing stored",
            "document 2",
            resource,
            case="second-is-list",
        ),
        bad(
            "kind: MemberCluster\nmetadata: {name: x}\nspec: {region: eu}\n",
            "kind: unknown kind",
            case="no-api-version",
        ),
        bad(f"apiVersion: {d.API}\nmetadata: {{name: x}}\n", "unknown kind", case="no-kind"),
        bad("apiVersion: v1\nkind: List\nitems: []\n", "unknown kind", case="kind-list"),
        bad("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", "unknown kind", case="core-kind"),
        bad(
            f"apiVersion: {d.API}\nkind: MemberCluster\nmetadata: [a]\nspec: {{region: eu}}\n",
            "metadata",
            case="metadata-is-list",
        ),
        bad(
            f"apiVersion: {d.API}\nkind: MemberCluster\nmetadata: {{name: x}}\nspec: eu\n",
            "spec: must be an object",
            case="spec-is-text",
        ),
        bad('"just a string"', resource, name="bad.json", case="json-string"),
        bad("[]", resource, name="bad.json", case="json-list"),
    ]


def _schema() -> list[Case]:
    corpus: list[dict[str, Any]] = yaml.safe_load((CORPUS / "invalid.yaml").read_text(encoding="utf-8"))
    return [
        bad(
            yaml.safe_dump(c["doc"]),
            "1 of 1 document(s) invalid, nothing stored",
            "bad.yaml, document 1",
            c["expect"],
            case=f"schema-{c['name']}",
        )
        for c in corpus
    ]


def _kubectl() -> list[Case]:
    return [
        bad(
            d.member("rv", "  resourceVersion: '7'\n"),
            "document 1 (MemberCluster rv)",
            "metadata.resourceVersion: must not be set on objects to be created",
            case="resource-version-on-create",
        ),
        bad(
            d.member("existing-mc", "  resourceVersion: '1'\n"),
            "document 1 (MemberCluster existing-mc)",
            "metadata.resourceVersion is 1, but the stored object is at",
            case="resource-version-stale",
        ),
        bad(
            GOOD.replace("  name: fresh\n", "  generateName: gen-\n"),
            "metadata.generateName: cannot be used with apply",
            case="generate-name",
        ),
        bad(
            d.stream(GOOD, d.member("x").replace("  name: x\n", "  generateName: x-\n")),
            "1 of 2 document(s) invalid",
            "document 2",
            "generateName",
            case="generate-name-second",
        ),
        Case(
            "json-file-in-directory-is-read",
            {"dir/a.yaml": GOOD.encode(), "dir/b.json": json.dumps(d.member_json("j", region="")).encode()},
            ("dir/b.json, document 1 (MemberCluster j)", "spec.region: must not be empty"),
            ("apply", "-f", "dir"),
        ),
        Case(
            "subdirectory-needs-recursive",
            {"dir/sub/a.yaml": GOOD.encode()},
            ("no resources found in the given files",),
            ("apply", "-f", "dir"),
            code=2,
        ),
        Case(
            "subdirectory-read-with-recursive",
            {"dir/a.yaml": GOOD.encode(), "dir/sub/b.yaml": LATIN1.encode("latin-1")},
            ("dir/sub/b.yaml", "byte 0xe9"),
            ("apply", "-R", "-f", "dir"),
        ),
        Case(
            "broken-link-in-directory",
            {"dir/a.yaml": GOOD.encode()},
            ("dir/b.yaml", "cannot be read: No such file or directory"),
            ("apply", "-f", "dir"),
            extra={"links": {"dir/b.yaml": "gone.yaml"}},
        ),
        bad(
            GOOD.replace("  name: fresh\n", "  name: fresh\n  uid: not-yours\n") + "  zone: [z]\n",
            "spec.zone",
            case="uid-and-bad-zone",
        ),
    ]


def _partial() -> list[Case]:
    late = d.member("deleting", "  finalizers: [x.dev/late]\n")
    refused = "no new finalizers can be added while deleting"
    stale = d.member("existing-mc", "  resourceVersion: '1'\n")
    return [
        bad(
            d.stream(GOOD, late),
            "1 of 2 document(s) refused by cluster hub, nothing stored",
            "bad.yaml, document 2 (MemberCluster deleting)",
            refused,
            case="finalizer-on-deleting-second",
        ),
        bad(d.stream(late, GOOD), "document 1 (MemberCluster deleting)", refused, case="finalizer-on-deleting-first"),
        piped(d.stream(GOOD, d.app("b"), late), "<stdin>, document 3", refused, case="finalizer-on-deleting-stdin"),
        bad(
            d.stream(GOOD, d.member("two"), d.member("three"), d.member("four"), stale),
            "1 of 5 document(s) refused",
            "document 5 (MemberCluster existing-mc)",
            case="stale-fifth",
        ),
        bad(d.stream(late, stale), "2 of 2 document(s) refused", "document 1", "document 2", case="two-refused"),
        Case(
            "directory-second-file-refused",
            {"dir/a.yaml": GOOD.encode(), "dir/b.yaml": late.encode()},
            ("dir/b.yaml, document 1 (MemberCluster deleting)", refused),
            ("apply", "-f", "dir"),
        ),
        Case(
            "two-files-second-refused",
            {"a.yaml": GOOD.encode(), "b.yaml": late.encode()},
            ("b.yaml, document 1", refused),
            ("apply", "-f", "a.yaml", "-f", "b.yaml"),
        ),
    ]


def _empty() -> list[Case]:
    none = "no resources found in the given files"
    return [
        Case("empty-file", {"bad.yaml": b""}, (none,), code=2),
        Case("only-comments", {"bad.yaml": b"# nothing\n"}, (none,), code=2),
        Case("only-separators", {"bad.yaml": b"---\n---\n...\n"}, (none,), code=2),
        Case("empty-directory", {"dir/readme.txt": b"hello"}, (none,), ("apply", "-f", "dir"), code=2),
        Case(
            "missing-file", {}, ("nope.yaml", "cannot be read: No such file or directory"), ("apply", "-f", "nope.yaml")
        ),
        Case("empty-stdin", {}, (none,), ("apply", "-f", "-"), code=2),
        Case("no-filename", {}, ("Missing option '-f'",), ("apply",), code=2),
        Case(
            "bad-namespace",
            {"bad.yaml": d.app("x").encode()},
            ("metadata.namespace",),
            ("apply", "-f", "bad.yaml", "-n", "Not_A_Namespace"),
        ),
    ]


CLASSES = {
    "encodings": _encodings(),
    "YAML and JSON syntax": _syntax(),
    "duplicate keys": _duplicates(),
    "depth, size and aliases": _depth_size_aliases(),
    "values JSON cannot hold": _values(),
    "documents that are not resources": _shapes(),
    "schema (tests/corpus/invalid.yaml)": _schema(),
    "kubectl strictness": _kubectl(),
    "documents only the store refuses": _partial(),
    "empty or missing input": _empty(),
}
CASES = [c for cases in CLASSES.values() for c in cases]


def make_baseline(hub: Path) -> Path:
    """A hub holding what the cases run into: an application, a member, and a member being deleted."""
    store = LocalCluster(hub / "hub.db", name="hub")
    store.create(application("existing", "default"))
    store.create(member("existing-mc"))
    store.update(store.get(MemberCluster, "existing-mc"))
    held = member("deleting")
    held.metadata.finalizers = ["x.dev/keep"]
    store.create(held)
    store.delete(MemberCluster, "deleting")
    assert store.get(M4DApplication, "existing", "default")
    store.close()
    return hub


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_baseline(tmp_path_factory.mktemp("baseline") / "hub")


@pytest.fixture
def hub(baseline: Path, tmp_path: Path) -> Iterator[Path]:
    copy = tmp_path / "hub"
    shutil.copytree(baseline, copy)
    yield copy


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_apply_refuses_cleanly(case: Case, hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    for name, data in case.files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    work.mkdir(exist_ok=True)
    for name, target in case.extra.get("links", {}).items():
        (work / name).symlink_to(target)
    monkeypatch.chdir(work)
    with unchanged(hub):
        outcome = run_cli(["--hub", str(hub), *case.args], stdin=case.stdin)
    assert_refused(outcome, case.says, case.code)


def test_the_same_input_without_the_bad_document_is_stored(hub: Path, tmp_path: Path) -> None:
    """The refusals above are of the bad part only: the good part alone goes in."""
    (tmp_path / "good.yaml").write_bytes(d.stream(GOOD, d.app("b")))
    outcome = run_cli(["--hub", str(hub), "apply", "-f", str(tmp_path / "good.yaml")])
    assert outcome.code == 0, outcome.text
    assert "membercluster.app.m4d.dev/fresh created" in outcome.out
