"""The planner's I/O: ask the catalog about each asset and the policy manager what the planner needs.

The planner (planner.py) is pure: it plans from the answers gathered so far and returns the questions
it had no answer for; those are asked here and it plans again, until it needs nothing more. Each
question is asked once per evaluation.

Connector errors become `Failure`s the planner turns into conditions, so a failing dependency is a
status a user can read, never a crash:
- catalog: unknown asset → AssetNotFound; down/slow → CatalogUnavailable (temporary); an unusable answer
  → CatalogError;
- policy manager: down/slow → PolicyManagerUnavailable (temporary); unusable answer → PolicyManagerError.
Once a connector has failed temporarily within one evaluation it is not asked again in that evaluation:
a dependency that is down is not hammered once per asset and geography.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from m4d.api.application import M4DApplication
from m4d.api.cluster import MemberCluster
from m4d.api.module import M4DModule
from m4d.api.storage import M4DStorageAccount
from m4d.connectors.catalog.interface import Catalog
from m4d.connectors.catalog.model import AssetInfo
from m4d.connectors.policy.interface import PolicyManager
from m4d.connectors.policy.model import PolicyDecision, PolicyRequest
from m4d.controllers.application.candidates import Failure
from m4d.controllers.application.enforceable import asset_id_problem
from m4d.controllers.application.planner import Plan, plan_in, world
from m4d.controllers.application.setting import AnswerKey
from m4d.errors import NotFoundError, PermanentError, TemporaryError
from m4d.taxonomy import Taxonomy

log = logging.getLogger("m4d.controllers.application")


def fetch_assets(catalog: Catalog, asset_ids: Sequence[str]) -> dict[str, AssetInfo | Failure]:
    out: dict[str, AssetInfo | Failure] = {}
    down: Failure | None = None
    for asset_id in dict.fromkeys(asset_ids):
        if down is not None:
            out[asset_id] = down
            continue
        try:
            out[asset_id] = catalog.get_asset(asset_id)
        except NotFoundError as exc:
            out[asset_id] = Failure("AssetNotFound", str(exc))
        except TemporaryError as exc:
            out[asset_id] = down = Failure("CatalogUnavailable", str(exc), temporary=True)
        except PermanentError as exc:
            out[asset_id] = Failure("CatalogError", str(exc))
        except Exception as exc:  # a connector bug must not take the controller down; say so and retry
            log.exception("%s failed on asset %s", catalog.name, asset_id)
            message = f"{catalog.name} failed unexpectedly: {type(exc).__name__}: {exc}"
            out[asset_id] = down = Failure("CatalogUnavailable", message, temporary=True)
    return out


# Each round answers at least one new question of every asset still planning; an application asks a
# handful (a geography or two, then the copies). A bound all the same, should a plan keep asking.
MAX_ROUNDS = 50


@dataclass
class PolicyOracle:
    """Asks the policy manager the planner's questions, each once; after a temporary failure the
    manager is not asked again in this evaluation (its failure stands for every later answer)."""

    manager: PolicyManager
    answers: dict[AnswerKey, PolicyDecision | Failure] = field(default_factory=dict)
    down: Failure | None = None

    def ask(self, request: PolicyRequest) -> None:
        key = request.key()
        if key in self.answers:
            return
        if self.down is not None:
            self.answers[key] = self.down
            return
        answer: PolicyDecision | Failure
        try:
            answer = self.manager.decide(request)
        except TemporaryError as exc:
            answer = self.down = Failure("PolicyManagerUnavailable", str(exc), temporary=True)
        except PermanentError as exc:
            answer = Failure("PolicyManagerError", str(exc))
        except Exception as exc:  # see fetch_assets
            log.exception("%s failed on %s", self.manager.name, request.describe())
            message = f"{self.manager.name} failed unexpectedly: {type(exc).__name__}: {exc}"
            answer = self.down = Failure("PolicyManagerUnavailable", message, temporary=True)
        self.answers[key] = answer

    @property
    def questions(self) -> int:
        return len(self.answers)


def evaluate(
    app: M4DApplication,
    catalog: Catalog,
    policy: PolicyManager,
    modules: Sequence[M4DModule],
    clusters: Sequence[MemberCluster],
    storage: Sequence[M4DStorageAccount],
    taxonomy: Taxonomy,
    placed: frozenset[str] = frozenset(),
) -> Plan:
    """Gather what the planner needs for `app` through the connectors, then plan."""
    # An id the modules cannot serve is not worth a catalog question (the planner reports it).
    assets = fetch_assets(catalog, [d.data_set_id for d in app.spec.data if asset_id_problem(d.data_set_id) is None])
    oracle = PolicyOracle(policy)
    hub = world(app, modules, clusters, storage, taxonomy, placed)
    for _ in range(MAX_ROUNDS):
        result = plan_in(app, assets, oracle.answers, hub, taxonomy)
        if not result.unanswered:
            break
        for request in result.unanswered:
            oracle.ask(request)
    return result
