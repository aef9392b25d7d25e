"""Running a bad input and checking that it was refused cleanly.

A clean refusal: a non-zero exit (1 for bad input, 2 for bad usage), a message that names the file,
document, field or system at fault, no traceback, no internal error, within the test's time limit, and
nothing changed: the hub store holds the same objects at the same resourceVersions, the GitOps repository
the same refs, and the hub directory the same files.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from m4d.cli.main import main

STORE_FILES = {"hub.db", "hub.db-wal", "hub.db-shm"}


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    escaped: BaseException | None = None  # an exception main() let through: a traceback for the user

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(args: list[str], stdin: bytes = b"") -> Outcome:
    """`m4d ARGS` in this process, as the console script runs it (same error handling, same exits)."""
    out, err = io.StringIO(), io.StringIO()
    code, escaped = 0, None
    saved = sys.argv, sys.stdin
    sys.argv = ["m4d", *args]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:
        escaped, code = exc, -1
    finally:
        sys.argv, sys.stdin = saved
    return Outcome(code, out.getvalue(), err.getvalue(), escaped)


def run_process(args: list[str], stdin: bytes = b"", cwd: Path | None = None, timeout: float = 60) -> Outcome:
    """`m4d ARGS` as a separate process (what a user sees, Python's own traceback printing included)."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "m4d"), *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
    return Outcome(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def _store(db: Path) -> tuple[object, ...]:
    if not db.is_file():
        return ()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        objects = conn.execute("SELECT kind, namespace, name, rv, body FROM objects ORDER BY 1, 2, 3").fetchall()
        events = conn.execute("SELECT COALESCE(MAX(rv), 0) FROM events").fetchone()
    except sqlite3.DatabaseError:
        return ("unreadable", hashlib.sha256(db.read_bytes()).hexdigest())
    finally:
        conn.close()
    return (tuple(objects), events)


def _refs(repo: Path) -> str:
    if not repo.is_dir():
        return ""
    done = subprocess.run(["git", "--git-dir", str(repo), "for-each-ref"], capture_output=True, text=True, check=False)
    return done.stdout


def _files(root: Path) -> tuple[tuple[str, str], ...]:
    if not root.is_dir():
        return (("<not a directory>", hashlib.sha256(root.read_bytes()).hexdigest() if root.is_file() else ""),)
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in STORE_FILES and "gitops.git" not in path.parts:
            out.append((str(path.relative_to(root)), hashlib.sha256(path.read_bytes()).hexdigest()))
    return tuple(out)


def hub_state(hub: Path) -> tuple[object, ...]:
    """Everything a refused command must leave as it was."""
    db = hub / "hub.db" if hub.is_dir() else hub
    return (_store(db), _refs(hub / "gitops.git"), _files(hub))


def assert_refused(outcome: Outcome, says: tuple[str, ...], code: int = 1) -> None:
    """The exact clean refusal: exit status, every expected phrase, no traceback, no internal error."""
    assert outcome.escaped is None, f"an exception escaped: {outcome.escaped!r}"
    assert "Traceback" not in outcome.text, outcome.text
    assert "internal error" not in outcome.text, outcome.text
    assert outcome.code == code, f"exit {outcome.code}, expected {code}:\n{outcome.text}"
    for phrase in says:
        assert phrase in outcome.err, f"{phrase!r} not in the message:\n{outcome.err}"


@contextlib.contextmanager
def unchanged(hub: Path) -> Iterator[None]:
    before = hub_state(hub)
    yield
    assert hub_state(hub) == before, "the refused input changed the hub"
