"""The console example in docs/bad-input.md runs as shown: each `$` line in a fresh directory, in order,
its output compared line by line, and each `m4d` command but the listing refused (exit 1 or 2)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-input.md"


def _steps(text: str) -> list[tuple[str, str]]:
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/bad-input.md has no console example"
    steps: list[tuple[str, list[str]]] = []
    for block in blocks:
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return [(command, "\n".join(output).strip()) for command, output in steps]


@pytest.mark.timeout(120)
def test_the_console_example_runs_as_shown(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("M4D_HUB", "M4D_KUBE_CONTEXT", "M4D_IN_CLUSTER"):
        env.pop(name, None)
    for command, expected in _steps(DOC.read_text(encoding="utf-8")):
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert (done.stdout + done.stderr).strip() == expected, command
        if command.startswith("m4d ") and not command.startswith("m4d get"):
            assert done.returncode in (1, 2), command
        else:
            assert done.returncode == 0, command
