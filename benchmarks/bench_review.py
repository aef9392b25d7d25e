"""Review benchmark: what keeping a pull request on a real Gitea costs per reconcile, as a ratio against the
direct-mode write of the same change to the same Gitea repository, measured in the same run.

    .venv/bin/python benchmarks/bench_review.py [--repeat 15]

Needs the test environment's Gitea (`make testenv`). Two cases, each timed `--repeat` times alternately
with its baseline (median of each, and the median of the paired ratios):
- unchanged: a Plotter whose plan is already proposed (review: fetch the target, list and fetch the review
  branch, read its pull request; direct: fetch and compare) — what every `reviewPoll` costs;
- changed: a new plan (review: commit, force-push the branch, replace the pull request's description;
  direct: commit and push to main).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from m4d.generator.changes import full_change, plotter_change  # noqa: E402
from m4d.generator.config import RenderConfig  # noqa: E402
from m4d.git import Mirror  # noqa: E402
from m4d.git.host.gitea import GiteaHost  # noqa: E402
from m4d.gitops.writer import GitOpsWriter  # noqa: E402
from tests.integration.git.gitea_api import new_repo  # noqa: E402
from tests.testenv.gitea import running  # noqa: E402
from tests.unit.generator.plans import members, plotter  # noqa: E402

CONFIG = RenderConfig("https://git.example/m4d/gitops.git")


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    clusters = members(2)
    with running() as gitea, tempfile.TemporaryDirectory(prefix="m4d-bench-review-") as tmp:
        work = Path(tmp)
        review_repo, direct_repo = new_repo(gitea, "bench-review"), new_repo(gitea, "bench-direct")
        seed = full_change([plotter("app")], clusters, CONFIG)[0]
        direct = GitOpsWriter(Mirror(work / "direct", direct_repo.remote()))
        seeder = GitOpsWriter(Mirror(work / "seed", review_repo.remote()))
        host = GiteaHost(gitea.url, review_repo.project, gitea.token)
        review = GitOpsWriter(Mirror(work / "review", review_repo.remote()), mode="review", reviews=host)
        try:
            direct.write(seed)
            seeder.write(seed)
            results: dict[str, tuple[list[float], list[float]]] = {"unchanged": ([], []), "changed": ([], [])}
            generation = 2
            review.write(plotter_change(plotter("app", generation=generation), clusters, CONFIG))
            direct.write(plotter_change(plotter("app", generation=generation), clusters, CONFIG))
            for _ in range(args.repeat):
                same = plotter_change(plotter("app", generation=generation), clusters, CONFIG)
                results["unchanged"][0].append(timed(lambda c=same: review.write(c)))  # type: ignore[misc]
                results["unchanged"][1].append(timed(lambda c=same: direct.write(c)))  # type: ignore[misc]
                generation += 1
                new = plotter_change(plotter("app", generation=generation), clusters, CONFIG)
                results["changed"][0].append(timed(lambda c=new: review.write(c)))  # type: ignore[misc]
                results["changed"][1].append(timed(lambda c=new: direct.write(c)))  # type: ignore[misc]
            assert len(review_repo.pulls()) == 1, "the benchmark must keep one pull request"
        finally:
            for writer in (direct, seeder, review):
                writer.close()
    print(f"review reconcile on Gitea, {args.repeat} paired rounds (baseline: direct mode to the same Gitea)")
    for case, (ours, base) in results.items():
        ratio = statistics.median(o / b for o, b in zip(ours, base, strict=True))
        review_ms, direct_ms = statistics.median(ours) * 1000, statistics.median(base) * 1000
        print(f"  {case:<9} review {review_ms:7.1f} ms   direct {direct_ms:7.1f} ms   ratio {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
