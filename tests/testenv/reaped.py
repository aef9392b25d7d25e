"""Every child process a test run started is reaped by its end.

A Popen still unreaped when the interpreter exits prints "ResourceWarning: subprocess N is still running"
after the last test, where no test fails for it (pytest's warnings-as-errors covers only what happens
inside a test). So the end of the session looks for such Popens itself, while it can still fail the run.
"""

from __future__ import annotations

import gc
import subprocess
import warnings

import pytest


def unreaped() -> list[str]:
    """Popens whose exit status nobody collected: dropped ones (their warning) and ones still held."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    found = [str(w.message) for w in caught if "still running" in str(w.message)]
    found += [
        f"pid {obj.pid} ({' '.join(map(str, obj.args if isinstance(obj.args, list) else [obj.args]))[:200]})"
        for obj in gc.get_objects()
        if isinstance(obj, subprocess.Popen) and obj.returncode is None
    ]
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    leaked = unreaped()
    if not leaked:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["child processes left unreaped at the end of the run (stop and wait() every Popen):", *leaked]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_sep("=", "unreaped child processes", red=True)
        for line in lines:
            reporter.write_line(line)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
