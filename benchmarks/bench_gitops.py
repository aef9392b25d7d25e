"""GitOps benchmark: generate + commit 1,000 applications over 20 clusters from scratch, then the cost of
one application changing in that repository, each as a ratio against the git command line committing
the same files in the same run.

    .venv/bin/python benchmarks/bench_gitops.py [--apps 1000] [--clusters 20] [--repeat 3] [--changes 10]

Baseline (git CLI): the same files written into a clone, `git add -A`, `git commit`, `git push` to a
bare repository. Ours: render + validate the tree, then the writer (fetch, compare, fast-import commit,
push) to a bare repository. The incremental figure is measured at two repository sizes (a tenth of
--apps, and --apps): its cost follows what changed, not the size of the repository.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from m4d.generator.changes import full_change, plotter_change  # noqa: E402
from m4d.generator.config import RenderConfig  # noqa: E402
from m4d.generator.tree import by_name, render_clusters  # noqa: E402
from m4d.git import Mirror, Remote, init_bare  # noqa: E402
from m4d.gitops.writer import GitOpsWriter  # noqa: E402
from tests.unit.generator.plans import members, plotter  # noqa: E402

CONFIG = RenderConfig("https://git.example/m4d/gitops.git")
IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.org"]


def plans(apps: int, clusters: int) -> list:
    """Application i reads 1-3 assets on one or two clusters (every 5th runs on two)."""
    return [
        plotter(
            f"app{i:05d}",
            f"team{i % 17}",
            clusters=(f"member{1 + i % clusters}",) + ((f"member{1 + (i + 7) % clusters}",) if i % 5 == 0 else ()),
            assets=1 + i % 3,
        )
        for i in range(apps)
    ]


def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


class CliRepo:
    """The baseline: a clone of a bare repository, committed to with the git command line."""

    def __init__(self, base: Path) -> None:
        self.bare, self.clone = base / "cli.git", base / "cli-clone"
        git("init", "-q", "--bare", "-b", "main", str(self.bare))
        git("clone", "-q", str(self.bare), str(self.clone))

    def commit(self, files: dict[str, bytes | None], message: str) -> None:
        for path, content in files.items():
            target = self.clone / path
            if content is None:
                target.unlink(missing_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        git("add", "-A", cwd=self.clone)
        git(*IDENTITY, "commit", "-q", "-m", message, cwd=self.clone)
        git("push", "-q", "origin", "HEAD:main", cwd=self.clone)


def ours(base: Path) -> GitOpsWriter:
    init_bare(base / "ours.git")
    return GitOpsWriter(Mirror(base / "ours-cache", Remote.parse(str(base / "ours.git"))))


def from_scratch(apps: int, clusters: int, repeat: int) -> dict[str, float]:
    """Each side starts from an empty bare repository (created outside the timed part)."""
    plan, members_ = plans(apps, clusters), members(clusters)
    files = dict(full_change(plan, members_, CONFIG)[0].files)
    times: dict[str, list[float]] = {"render": [], "write": [], "ours": [], "cli": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            writer, cli = ours(Path(tmp)), CliRepo(Path(tmp))
            start = time.perf_counter()
            change = full_change(plan, members_, CONFIG)[0]
            rendered = time.perf_counter()
            writer.write(change)
            done = time.perf_counter()
            cli.commit(dict(files), "from scratch")
            times["cli"].append(time.perf_counter() - done)
            times["render"].append(rendered - start)
            times["write"].append(done - rendered)
            times["ours"].append(done - start)
            writer.close()
    return {
        "files": len(files),
        "bytes": sum(len(v) for v in files.values()),
        **{k: statistics.median(v) for k, v in times.items()},
    }


def incremental(apps: int, clusters: int, changes: int) -> dict[str, float]:
    """Seed a repository with `apps` applications, then change one application `changes` times."""
    plan, members_ = plans(apps, clusters), members(clusters)
    seed = full_change(plan, members_, CONFIG)[0]
    registrations = render_clusters(list(by_name(members_).values()), CONFIG)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        writer, cli = ours(base), CliRepo(base)
        writer.write(seed)
        cli.commit(dict(seed.files), "seed")
        ours_times: list[float] = []
        cli_times: list[float] = []
        changed_bytes: list[int] = []
        changed_clusters = tuple(sorted({s.cluster for f in plan[42].spec.flows for s in f.steps}))
        for n in range(changes):
            changed = plotter(
                "app00042", "team8", clusters=changed_clusters, assets=3, redact=(f"column{n}",), generation=n + 3
            )
            start = time.perf_counter()
            change = plotter_change(changed, members_, CONFIG, registrations)
            result = writer.write(change)
            ours_elapsed = time.perf_counter() - start
            assert result.commit is not None
            edits = {p: change.files[p] for p in result.changed}
            changed_bytes.append(sum(len(v or b"") for v in edits.values()))
            start = time.perf_counter()
            cli.commit(edits, f"change {n}")
            if n >= 0:
                cli_times.append(time.perf_counter() - start)
                ours_times.append(ours_elapsed)
        # For contrast: one more change of that application, written as a full sync (whole tree rendered
        # and compared), the path a restart takes.
        final = plotter("app00042", "team8", clusters=changed_clusters, assets=3, redact=("final",), generation=99)
        start = time.perf_counter()
        writer.write(full_change([*plan[:42], final, *plan[43:]], members_, CONFIG)[0])
        full_time = time.perf_counter() - start
        writer.close()
    return {
        "ours": statistics.median(ours_times),
        "cli": statistics.median(cli_times),
        "bytes": statistics.median(changed_bytes),
        "full_sync": full_time,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changes", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("git") is None:
        sys.exit("git is not installed")

    s = from_scratch(args.apps, args.clusters, args.repeat)
    print(f"from scratch: {args.apps} applications on {args.clusters} clusters, {s['files']:.0f} files, "
          f"{s['bytes'] / 1e6:.1f} MB (median of {args.repeat})")  # fmt: skip
    print(f"  git CLI (write files, add -A, commit, push)   {s['cli']:7.3f} s")
    print(f"  m4d generate + validate                       {s['render']:7.3f} s")
    print(
        f"  m4d write (fetch, compare, commit, push)      {s['write']:7.3f} s   {s['write'] / s['cli']:5.2f}x git CLI"
    )
    print(f"  m4d total                                     {s['ours']:7.3f} s   {s['ours'] / s['cli']:5.2f}x git CLI")

    small = max(args.apps // 10, 50)
    print(f"\none application changing (median of {args.changes} changes):")
    rows = [(n, incremental(n, args.clusters, args.changes)) for n in (small, args.apps)]
    for n, r in rows:
        print(f"  in a repository of {n:5d} applications: m4d {r['ours'] * 1000:6.1f} ms, "
              f"git CLI {r['cli'] * 1000:6.1f} ms = {r['ours'] / r['cli']:4.2f}x; {r['bytes'] / 1000:.1f} kB changed; "
              f"as a full sync {r['full_sync'] * 1000:6.0f} ms")  # fmt: skip
    (n1, r1), (n2, r2) = rows
    print(f"  {n2 // n1}x the repository: incremental m4d {r2['ours'] / r1['ours']:.2f}x, "
          f"git CLI {r2['cli'] / r1['cli']:.2f}x, full sync {r2['full_sync'] / r1['full_sync']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
