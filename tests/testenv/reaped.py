"""Every child process a test run started and is done with is reaped by its end.

A Popen that is dropped, or held after its process ended, without its exit status collected prints
"ResourceWarning: subprocess N is still running" when the interpreter exits: after the last test, where
no test fails for it (pytest's warnings-as-errors covers only what happens inside a test). So the end of
the session looks for both itself, while it can still fail the run. A process still running under a held
Popen is not counted: the product keeps some for the life of the process (the keyed-hash workers) and
stops them at exit.
"""

from __future__ import annotations

import gc
import subprocess
import warnings
from pathlib import Path

import pytest


def _ended(pid: int) -> bool:
    """Whether the process has exited: a zombie waiting to be reaped, or gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def unreaped() -> list[str]:
    """Popens whose exit status nobody collected: dropped ones (their warning), and held ones whose
    process has ended."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    found = [str(w.message) for w in caught if "still running" in str(w.message)]
    found += [
        f"pid {obj.pid} ({' '.join(map(str, obj.args if isinstance(obj.args, list) else [obj.args]))[:200]})"
        for obj in gc.get_objects()
        if isinstance(obj, subprocess.Popen) and obj.returncode is None and _ended(obj.pid)
    ]
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    leaked = unreaped()
    if not leaked:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["child processes left unreaped at the end of the run (wait() for every Popen you stop):", *leaked]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "unreaped child processes", red=True)
        for line in lines:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
