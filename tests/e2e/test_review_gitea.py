"""Review mode end to end on a real Gitea: every generated change is a pull request a person merges or rejects.

Member clusters are onboarded in review mode (their registration is a pull request, merged through the API),
the hub runs in review mode with the Gitea configured in hub.yaml, an application's plan waits in a pull
request whose description explains it, a change to the application updates that same pull request, the
merge is synced to the member and the application becomes ready; a second application's pull request is
closed without merge and stays rejected. The members are embedded stores synced from the repository
Gitea serves (the local stand-in for Argo CD), and agents run the modules.

Set M4D_REVIEW_SAMPLE=FILE to keep the description of the first pull request (docs/gitops.md shows one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from m4d.api import Blueprint, M4DApplication, Plotter
from m4d.api.meta import find_condition
from m4d.cluster.local import LocalCluster
from m4d.demo import services, world
from m4d.errors import NotFoundError
from tests.integration.git.gitea_api import GiteaRepo, new_repo
from tests.testenv.gitea import Gitea

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(420)]

TOKEN_ENV = "M4D_E2E_GITEA_TOKEN"
CLUSTERS = world.CLUSTERS


class Hub:
    def __init__(self, paths: world.DemoPaths, repo: GiteaRepo, env: dict[str, str]) -> None:
        self.paths = paths
        self.repo = repo
        self.env = env
        self.store = LocalCluster(paths.hub / "hub.db", name="hub")

    def m4d(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "m4d.cli", "--hub", str(self.paths.hub), *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
        )
        assert done.returncode == 0, f"m4d {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def configure_host(self) -> None:
        """hub.yaml names the repository's Git host (the hub reads it; onboarding used flags)."""
        settings = {
            "heartbeatTimeout": 4.0,
            "reviewPoll": 0.5,
            "gitHosts": [{"repository": self.repo.clone_url, "provider": "gitea", "tokenRef": f"env:{TOKEN_ENV}"}],
        }
        (self.paths.hub / "hub.yaml").write_text(yaml.safe_dump(settings))

    def start(self, name: str, *args: str) -> None:
        services.start(self.paths.hub, services.Service(name, args), env=self.env)

    def app(self, name: str) -> M4DApplication:
        return self.store.get(M4DApplication, name, "default")

    def plotter(self, name: str) -> Plotter:
        return self.store.get(Plotter, name, "default")

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if check():
                    return
            except NotFoundError:  # not made yet
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                    for p in sorted((self.paths.hub / "logs").glob("*.log"))
                )
                raise AssertionError(f"{what} not reached in {timeout:g}s\n{logs}")
            time.sleep(0.2)

    def apply_app(self, name: str, **app_info: str) -> None:
        doc = yaml.safe_load((self.paths.applications / f"{name}.yaml").read_text())
        doc["spec"]["appInfo"].update(app_info)
        path = self.paths.hub / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc))
        self.m4d("apply", "-f", str(path))


def reason(conditions: list, kind: str) -> str | None:  # type: ignore[type-arg]
    found = find_condition(conditions, kind)
    return found.reason if found is not None else None


@pytest.fixture
def hub(gitea: Gitea, tmp_path: Path) -> Iterator[Hub]:
    repo = new_repo(gitea, "review-e2e")
    paths = world.prepare(tmp_path / "hub", rows=2_000)
    env = {
        **os.environ,
        "M4D_GITOPS_REPO": repo.clone_url,
        "M4D_GIT_USERNAME": gitea.admin,
        "M4D_GIT_PASSWORD": gitea.token,
        TOKEN_ENV: gitea.token,
    }
    made = Hub(paths, repo, env)
    try:
        yield made
    finally:
        made.store.close()
        services.stop_all(paths.hub)


def test_review_flow_on_gitea(hub: Hub, gitea: Gitea) -> None:
    repo = hub.repo
    # Onboarding in review mode, the Git host given on the command line (its token in a file): the
    # registrations wait in one pull request, merged by a cluster admin.
    token_file = hub.paths.hub / "gitea-token"
    token_file.write_text(gitea.token)
    host = ("--gitops-mode", "review", "--git-host", "gitea", "--git-host-token-ref", f"file:{token_file}")
    for name, region in CLUSTERS:
        out = hub.m4d("cluster", "onboard", name, "--template", "plain", "--region", region, *host)
        assert "registration awaits review" in out and f"{gitea.url}/{repo.project}/pulls/" in out
    (registration,) = repo.pulls()
    assert "argocd/clusters/eu-fr-1.yaml" in registration["body"]  # both clusters, one pull request
    repo.merge(registration["number"])

    hub.m4d("apply", "-f", str(hub.paths.descriptors), "-f", str(hub.paths.resources))
    hub.configure_host()
    hub.start("hub", "hub", "run", "--gitops-mode", "review")
    hub.start("sync", "sync", "--repo", str(gitea.repo_path(repo.owner, repo.name)))
    for name, _ in CLUSTERS:
        hub.start(f"agent-{name}", "agent", "--cluster", name, "--heartbeat", "0.5")

    # An application is planned: its plan waits in a pull request that explains it.
    hub.apply_app("fraud-detection")

    def awaiting() -> bool:
        status = hub.plotter("fraud-detection").status
        return status is not None and status.review is not None and status.review.state == "Open"

    hub.wait(awaiting, "fraud-detection's plan in a pull request")
    review = hub.plotter("fraud-detection").status.review  # type: ignore[union-attr]
    assert review is not None and review.url is not None
    hub.wait(lambda: reason(hub.app("fraud-detection").status.conditions, "Ready") == "AwaitingReview", "app status")
    ready = find_condition(hub.app("fraud-detection").status.conditions, "Ready")  # type: ignore[union-attr]
    assert ready is not None and review.url in ready.message
    pull = repo.pull(review.number or 0)
    body = pull["body"]
    hub.wait(lambda: "hash-ids-for-fraud-detection" in repo.pull(review.number or 0)["body"], "decisions in it")
    body = repo.pull(review.number or 0)["body"]
    assert "intent **Fraud Detection**, role **Data Scientist**" in body
    assert "| finance/transactions | read | fybrik-arrow-flight/arrow | HashColumn | customer_id |" in body
    assert f"{gitea.url}/{repo.project}/src/branch/{review.branch}/clusters/" in body
    assert "added Blueprint on" in body
    if sample := os.environ.get("M4D_REVIEW_SAMPLE"):
        Path(sample).write_text(f"# {pull['title']}\n\n{body}")

    # The application changes: the same pull request is updated (force-pushed, new description).
    hub.apply_app("fraud-detection", intent="Customer Analytics", role="Analyst")
    hub.wait(lambda: "redact-pii-for-analytics" in repo.pull(review.number or 0)["body"], "the updated description")
    updated = repo.pull(review.number or 0)
    assert updated["state"] == "open" and updated["head"]["sha"] != pull["head"]["sha"]
    assert "RedactColumn" in updated["body"] and "HashColumn" not in updated["body"]
    assert [p["number"] for p in repo.pulls("open")] == [review.number]  # still one pull request

    # Merged through the API: synced to the member, the status moves on, the application becomes ready.
    repo.merge(review.number or 0)
    hub.wait(lambda: hub.app("fraud-detection").status.ready, "fraud-detection ready after the merge", 180)  # type: ignore[union-attr]
    status = hub.plotter("fraud-detection").status
    assert status is not None and status.review is None and reason(status.conditions, "Committed") == "Committed"
    delivered = []
    for name, _ in CLUSTERS:
        member = LocalCluster(hub.paths.hub / "members" / f"{name}.db", name=name)
        try:
            delivered += [bp for bp in member.list(Blueprint).items if bp.spec.application.name == "fraud-detection"]
        finally:
            member.close()
    assert delivered, "the merged Blueprint reached no member"
    actions = {a.name for bp in delivered for m in bp.spec.modules for asset in m.assets for a in asset.actions}
    assert "RedactColumn" in actions and "HashColumn" not in actions  # the plan as merged, not the first one

    # A second application's pull request is closed without merge: rejected, named, not reopened.
    hub.apply_app("customer-analytics")

    def opened() -> bool:
        status = hub.plotter("customer-analytics").status
        return status is not None and status.review is not None and status.review.state == "Open"

    hub.wait(opened, "customer-analytics's pull request")
    second = hub.plotter("customer-analytics").status.review  # type: ignore[union-attr]
    assert second is not None and second.number != review.number
    repo.close(second.number or 0)
    hub.wait(lambda: reason(hub.app("customer-analytics").status.conditions, "Ready") == "ReviewRejected", "rejected")
    rejected = find_condition(hub.app("customer-analytics").status.conditions, "Ready")  # type: ignore[union-attr]
    assert rejected is not None and second.url is not None and second.url in rejected.message
    plotter_status = hub.plotter("customer-analytics").status
    assert plotter_status is not None and plotter_status.review is not None
    assert plotter_status.review.state == "Rejected"
    time.sleep(3)  # several review polls: nothing is reopened or opened again
    assert repo.pull(second.number or 0)["state"] == "closed"
    assert len(repo.pulls()) == 3  # registration, fraud-detection, customer-analytics
