"""The application controller: the thin I/O layer around the planner.

Reconcile = read the hub's modules, clusters and storage accounts (from the runtime's cache), ask the
connectors (gather.py), plan (planner.py, pure), then act: apply the Plotter (same name and namespace as
the application, owned by it), delete it when nothing is planned, or leave it untouched while a
connector is temporarily down.
The status is returned for the runtime to write once.

Wakes on: the application itself (a `m4d refresh` annotation too); any change of M4DModules,
MemberClusters (ignoring heartbeats) and M4DStorageAccounts (all applications); status changes of its
Plotter (that application); a change of the catalog's or the policy manager's content, which no hub
resource shows (all applications; revisions.py).
Waits, never sleeps: a temporary connector failure is a condition plus a growing timed requeue.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from m4d.api.application import M4DApplication, M4DApplicationStatus, SecretKeyRef
from m4d.api.cluster import MemberCluster
from m4d.api.meta import GROUP_VERSION, OwnerReference, Resource, find_condition, utcnow
from m4d.api.module import M4DModule
from m4d.api.plotter import Plotter
from m4d.api.report import BlueprintReport
from m4d.api.storage import M4DStorageAccount
from m4d.connectors.catalog.interface import Catalog
from m4d.connectors.policy.interface import PolicyManager
from m4d.controllers.application.candidates import cluster_offline, module_unready
from m4d.controllers.application.gather import evaluate
from m4d.controllers.application.leftovers import delete_copies
from m4d.controllers.application.planner import Plan
from m4d.controllers.application.revisions import POLL, RECHECK, RevisionWatch
from m4d.controllers.application.status import REVIEW_REASONS, application_status, failing_since
from m4d.controllers.registry.liveness import cluster_lost
from m4d.credentials import CredentialStore
from m4d.credentials.app_tokens import TOKEN_ENTRY, token_secret_name
from m4d.errors import NotFoundError
from m4d.runtime.controller import Controller, ObjectKey, Outcome, Watch
from m4d.runtime.indexers import APPLICATION, app_key
from m4d.taxonomy import Taxonomy, default_taxonomy

log = logging.getLogger("m4d.controllers.application")

FIELD_MANAGER = "m4d-application-controller"
FINALIZER = "app.m4d.dev/plotter"
APPLICATION_LABEL = "app.m4d.dev/application"
# Outcomes that a catalog or policy manager may change without any hub resource changing.
# A deleted application waits for its modules to stop before its copies go: how often it looks.
FINALIZE_POLL = 1.0
RECHECK_REASONS = frozenset({"AssetNotFound", "CatalogError", "PolicyManagerError", "InvalidPolicyAction"})


@dataclass
class ApplicationController(Controller[M4DApplication]):
    catalog: Catalog = field(kw_only=True)
    policy: PolicyManager = field(kw_only=True)
    taxonomy: Taxonomy = field(default_factory=default_taxonomy, kw_only=True)
    retry_after: float = field(default=2.0, kw_only=True)  # first look after a temporary failure; grows
    retry_max: float = field(default=60.0, kw_only=True)
    recheck_after: float = field(default=60.0, kw_only=True)  # after an unusable answer or unknown asset
    resync_after: float | None = field(default=None, kw_only=True)  # re-evaluate settled applications
    # Catalog and policy changes: revisions asked every `revision_poll` seconds; connectors that cannot
    # tell theirs asked again every `connector_recheck` seconds (revisions.py). None: not watched.
    revision_poll: float | None = field(default=POLL, kw_only=True)
    connector_recheck: float = field(default=RECHECK, kw_only=True)
    # Where the credentials of storage accounts are (to delete a deleted application's copies).
    storage_credentials: CredentialStore | None = field(default=None, kw_only=True)
    # Applications' access tokens are Secrets (a Kubernetes hub): the status names each one's Secret.
    token_secrets: bool = field(default=False, kw_only=True)

    def __post_init__(self) -> None:
        self.kind = M4DApplication
        self.name = "application"
        self.finalizer = FINALIZER
        self.revisions = RevisionWatch([self.catalog, self.policy], recheck=self.connector_recheck)

    def background(self) -> Sequence[Callable[[threading.Event], None]]:
        poll = self.revision_poll
        if poll is None:
            return ()
        return [lambda stop: self.revisions.run(stop, self._wake_all, poll)]

    def _wake_all(self) -> None:
        for key in self._all(None):
            self.enqueue(key)

    # -- watches --------------------------------------------------------------------------------

    def watches(self) -> Sequence[Watch]:
        return [
            Watch(M4DModule, self._all, changed=self._input_changed),
            Watch(MemberCluster, self._all, changed=self._input_changed),
            Watch(M4DStorageAccount, self._all, changed=self._input_changed),
            Watch(Plotter, self._owner, changed=self._plotter_changed),
        ]

    def reads(self) -> Sequence[type[Resource]]:
        return (BlueprintReport,)  # finalize: does a member still run the application?

    @staticmethod
    def _fingerprint(obj: Resource) -> tuple[object, ...]:
        """What the planner reads of an input; a MemberCluster heartbeat changes none of it."""
        m = obj.metadata
        ready: object = True
        if isinstance(obj, MemberCluster):
            ready = (not cluster_offline(obj), cluster_lost(obj))
        elif isinstance(obj, M4DModule):
            ready = not module_unready(obj)
        return (m.uid, m.generation, tuple(sorted(m.labels.items())), ready)

    @staticmethod
    def _plotter_seen(plotter: Plotter) -> tuple[object, ...]:
        """What the application's status reads of its Plotter (status.py): not the commit's own details."""
        m, status = plotter.metadata, plotter.status
        if status is None:
            return (m.uid, m.generation, m.deletion_timestamp)
        ready = find_condition(status.conditions, "Ready")
        committed = find_condition(status.conditions, "Committed")
        return (
            m.uid,
            m.generation,
            m.deletion_timestamp,
            tuple(ref.uid for ref in m.owner_references),
            status.ready,
            status.ready_clusters,
            status.endpoints,
            ready.message if ready is not None else None,
            (committed.reason, committed.message)
            if committed is not None and committed.reason in REVIEW_REASONS
            else None,
        )

    def _plotter_changed(self, old: Plotter, new: Plotter) -> bool:
        return self._plotter_seen(old) != self._plotter_seen(new)

    def _input_changed(self, old: Resource, new: Resource) -> bool:
        return self._fingerprint(old) != self._fingerprint(new)

    def _all(self, _: Resource | None) -> list[ObjectKey]:
        return [ObjectKey.of(app) for app in self.read.list(M4DApplication)]

    @staticmethod
    def _owner(plotter: Plotter) -> list[ObjectKey]:
        app = plotter.spec.application
        return [ObjectKey(app.namespace, app.name)]

    # -- reconcile ------------------------------------------------------------------------------

    def evaluate(self, app: M4DApplication) -> Plan:
        """The plan for `app` as things are now (what reconcile acts on; `m4d explain --live` shows it)."""
        return evaluate(
            app,
            self.catalog,
            self.policy,
            self.read.list(M4DModule),
            self.read.list(MemberCluster),
            self.read.list(M4DStorageAccount),
            self.taxonomy,
            self._placed(app),
        )

    def _placed(self, app: M4DApplication) -> frozenset[str]:
        """The clusters the application runs on now: an Offline one keeps its work until it is Lost."""
        plotter = self._current_plotter(app)
        if plotter is None:
            return frozenset()
        return frozenset(step.cluster for flow in plotter.spec.flows for step in flow.steps)

    def reconcile(self, obj: M4DApplication) -> Outcome:
        plan = self.evaluate(obj)
        plotter = self._act(obj, plan)
        now = utcnow()
        status = application_status(obj, plan, plotter, now)
        if self.token_secrets:
            status.access_token = SecretKeyRef(name=token_secret_name(obj.name), key=TOKEN_ENTRY)
        return Outcome(status=status, requeue_after=self._next_look(plan, status, now))

    def _act(self, app: M4DApplication, plan: Plan) -> Plotter | None:
        if plan.keep_plotter:
            return self._current_plotter(app)
        if plan.plotter is None:
            self._delete_plotter(app)
            return None
        plotter = Plotter.new(app.name, app.namespace, spec=plan.plotter)
        plotter.metadata.labels = {APPLICATION_LABEL: app.name}
        plotter.metadata.owner_references = [
            OwnerReference(
                api_version=GROUP_VERSION,
                kind=M4DApplication.KIND,
                name=app.name,
                uid=app.metadata.uid or "",
                controller=True,
                block_owner_deletion=True,
            )
        ]
        return self.cluster.apply(plotter, FIELD_MANAGER)

    def _current_plotter(self, app: M4DApplication) -> Plotter | None:
        try:
            plotter = self.read.get(Plotter, app.name, app.namespace)
        except NotFoundError:
            return None
        return plotter if self._owned(app, plotter) else None

    @staticmethod
    def _owned(app: M4DApplication, plotter: Plotter) -> bool:
        return any(ref.uid == app.metadata.uid for ref in plotter.metadata.owner_references)

    def _delete_plotter(self, app: M4DApplication) -> None:
        plotter = self._current_plotter(app)
        if plotter is not None:
            with contextlib.suppress(NotFoundError):
                self.cluster.delete(Plotter, plotter.name, plotter.namespace)

    def _next_look(self, plan: Plan, status: M4DApplicationStatus, now: datetime) -> float | None:
        if plan.temporary:
            since = failing_since(status, plan)
            waited = (now - since).total_seconds() if since is not None else 0.0
            return min(max(self.retry_after, waited), self.retry_max)
        if any(r.outcome == "Error" and r.reason in RECHECK_REASONS for r in plan.records):
            return self.recheck_after
        return self.resync_after

    def finalize(self, obj: M4DApplication) -> Outcome:
        """The Plotter goes (its Blueprints leave Git, the members stop their modules); once no member
        that can still answer runs a module of the application, its copies leave the storage accounts."""
        self._delete_plotter(obj)
        if self._current_plotter(obj) is not None or self._still_running(obj):
            return Outcome(requeue_after=FINALIZE_POLL)
        accounts = self.read.list(M4DStorageAccount)
        removed = delete_copies(accounts, obj.namespace or "default", obj.name, self.storage_credentials)
        for where in removed:
            log.info("%s: its copies in %s deleted", obj.key, where)
        return Outcome()

    def _still_running(self, app: M4DApplication) -> bool:
        """A member not Lost still reports a Blueprint of the application (its modules may still write)."""
        alive = {c.name for c in self.read.list(MemberCluster) if not cluster_lost(c)}
        # From the cache, by application: listing every report per deletion would cost O(N) each.
        reports = self.read.by_index(BlueprintReport, APPLICATION, app_key(app.namespace, app.name))
        return any(r.spec.application.uid == app.metadata.uid and r.spec.cluster in alive for r in reports)

    def close(self) -> None:
        self.catalog.close()
        self.policy.close()
