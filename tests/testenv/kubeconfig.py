"""Kubeconfig files for the test clusters. Written as JSON (a subset of YAML), so no YAML library is
needed here; kubectl and the kubernetes Python client read them alike."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    context: str  # also the cluster and (suffixed) user name
    server: str
    ca_file: Path
    token: str


def render(entries: Sequence[Entry], current: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": current,
        "clusters": [
            {"name": e.context, "cluster": {"server": e.server, "certificate-authority": str(e.ca_file)}}
            for e in entries
        ],
        "users": [{"name": f"{e.context}-admin", "user": {"token": e.token}} for e in entries],
        "contexts": [
            {"name": e.context, "context": {"cluster": e.context, "user": f"{e.context}-admin"}} for e in entries
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def write(path: Path, entries: Sequence[Entry], current: str) -> Path:
    path.write_text(render(entries, current))
    path.chmod(0o600)  # it holds admin tokens
    return path
