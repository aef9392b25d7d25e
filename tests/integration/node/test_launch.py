"""The container launcher on its own: a volume mounted over a directory that holds the image's files
(an emptyDir at /tmp, with the checkout under /tmp) leaves the image's files where they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.testenv.node.container import LAUNCHER

pytestmark = pytest.mark.integration


def test_a_volume_over_the_image_leaves_the_image_in_place(tmp_path: Path) -> None:
    image = tmp_path / "outer" / "image"  # stands for a checkout and its virtualenv under /tmp
    (image / "bin").mkdir(parents=True)
    tool = image / "bin" / "tool"
    tool.write_text('#!/bin/sh\necho "ran as $0" > "$OUT"\n')
    tool.chmod(0o755)
    volume, results = tmp_path / "volume", tmp_path / "results"  # an emptyDir mounted over outer/
    volume.mkdir()
    results.mkdir()
    written = tmp_path / "written"
    written.mkdir()
    spec = {
        "argv": [str(tool)],
        "env": {"OUT": str(results / "out"), "PATH": "/usr/bin:/bin"},
        "working_dir": "/",
        "mounts": [
            {"source": str(volume), "target": str(tmp_path / "outer")},
            {"source": str(written), "target": str(results)},
        ],
        "hostname": "",
        "scratch": str(tmp_path / "scratch"),
        "error_file": str(tmp_path / "error"),
        "image_paths": [str(image)],
    }
    spec_file = tmp_path / "launch.json"
    spec_file.write_text(json.dumps(spec))
    namespaces = ["--mount", "--uts", "--propagation", "private"]
    if os.geteuid() != 0:
        namespaces = ["--user", "--map-root-user", *namespaces]
    done = subprocess.run(
        ["unshare", *namespaces, "--", sys.executable, str(LAUNCHER), str(spec_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    error = (tmp_path / "error").read_text() if (tmp_path / "error").exists() else ""
    assert done.returncode == 0, (done.returncode, error, done.stdout, done.stderr)
    assert (written / "out").read_text() == f"ran as {tool}\n"
    assert not any(volume.iterdir())  # nothing was made in the volume to show the image
