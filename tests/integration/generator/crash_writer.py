"""Run as a process the tests kill at random moments: write one big change to the repository."""

from __future__ import annotations

import sys
from pathlib import Path

from m4d.generator.changes import full_change
from m4d.generator.config import RenderConfig
from m4d.git import Mirror, Remote
from m4d.gitops.writer import GitOpsWriter
from tests.unit.generator.plans import members, plotter


def main(url: str, cache: str) -> None:
    clusters = members(4)
    plans = [plotter(f"app{i}", clusters=(f"member{1 + i % 4}",)) for i in range(60)]
    change, _ = full_change(plans, clusters, RenderConfig("https://git.example/m4d.git"))
    writer = GitOpsWriter(Mirror(Path(cache), Remote.parse(url)))
    result = writer.write(change)
    print(result.commit or "none")
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
