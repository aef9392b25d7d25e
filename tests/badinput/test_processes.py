"""A sample of the corpus as real `m4d` processes: what a user sees, with Python's own traceback printing in
play. And how an internal error (a bug) looks: one line that says so, the traceback only with -v."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from m4d.cli.main import cli
from tests.badinput import test_apply, test_commands
from tests.badinput.harness import assert_refused, run_cli, run_process, unchanged

SAMPLE = [
    *(c for c in test_apply.CASES if c.id in {"latin1-value", "block-depth-101", "alias-bomb", "dup-top-level",
                                              "finalizer-on-deleting-second", "document-50mb", "stdin-latin1"}),
    *(c for c in test_commands.CASES if c.id in {"hub-is-file-get", "hub-corrupt-get", "onboard-uppercase",
                                                 "connector-timeout-negative", "taxonomy-latin1"}),
]  # fmt: skip


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", SAMPLE, ids=[c.id for c in SAMPLE])
def test_a_real_process_refuses_cleanly(
    case: test_apply.Case | test_commands.Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = tmp_path / "hub"
    if isinstance(case, test_apply.Case):
        test_apply.make_baseline(hub)
        stdin = case.stdin
    else:
        test_commands.prepare(case.hub, test_commands.make_baseline(tmp_path / "base"), hub)
        stdin = b""
    work = tmp_path / "work"
    work.mkdir()
    for name, data in case.files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    monkeypatch.setenv("M4D_CLUSTER_TEMPLATES", str(test_commands.ROOT / "cluster-templates"))
    with unchanged(hub):
        outcome = run_process(["--hub", str(hub), *case.args], stdin=stdin, cwd=work)
    assert_refused(outcome, case.says, case.code)


@pytest.fixture
def broken_command() -> Iterator[None]:
    @click.command("broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    cli.add_command(broken)
    yield
    cli.commands.pop("broken")


@pytest.mark.usefixtures("broken_command")
def test_an_internal_error_says_it_is_a_bug_and_shows_where_only_with_v() -> None:
    quiet = run_cli(["broken"])
    assert quiet.code == 70 and quiet.escaped is None
    assert "internal error (a bug): RuntimeError: a bug; run again with -v to see where" in quiet.err
    assert "Traceback" not in quiet.err
    loud = run_cli(["-v", "broken"])
    assert loud.code == 70
    assert "Traceback" in loud.err and 'raise RuntimeError("a bug")' in loud.err
