"""The blueprint agent's controller: Blueprints on a member → running module instances → reports on the hub.

Reconcile decides, per module instance of a Blueprint, its configuration (derived from the Blueprint,
access granted to the application's token) and makes it run, writes the Blueprint's status on the member
and a BlueprintReport on the hub:

- on a Kubernetes member each instance becomes workloads there (ConfigMap, Deployment and Service, or Job:
  `workloads.py`) that the cluster runs; its state is what the cluster reports (`judge.py`), and a watch
  on those workloads and their pods wakes the agent (`cluster_modules.py`). The agent runs no module itself;
- on an embedded member (no nodes) the supervisor runs each instance as a local process from the module's
  command (the platform's own modules forked from a warm fork server) and wakes the controller whenever
  one changes state (`processes.py`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from m4d.api.blueprint import Blueprint, BlueprintModule, BlueprintStatus, ModulePhase, ModuleState, spec_hash
from m4d.api.meta import Condition, set_condition
from m4d.api.report import BlueprintRef, BlueprintReport, BlueprintReportSpec, cap_errors
from m4d.cluster.interface import Cluster
from m4d.controllers.agent.cluster_modules import ClusterModules
from m4d.controllers.agent.processes import ProcessSpec, Supervisor
from m4d.controllers.agent.settings import AgentSettings
from m4d.controllers.agent.trust import Trust
from m4d.controllers.agent.workloads import PodIdentity, WorkloadClient
from m4d.controllers.sync.plan import REVISION_ANNOTATION
from m4d.credentials.app_tokens import read_token
from m4d.credentials.interface import CredentialStore
from m4d.credentials.source import CredentialSource, open_store
from m4d.errors import M4DError, NotFoundError, PermanentError
from m4d.modules.config import ClientGrant, from_blueprint
from m4d.modules.forkserver import ForkServer, address_for
from m4d.runtime.controller import Controller, ObjectKey, Outcome
from m4d.runtime.reader import Reader

log = logging.getLogger("m4d.agent")

AGENT_FINALIZER = "app.m4d.dev/agent"
# While a module waits for something expected (its application's token), look again this soon.
WAIT_RETRY = 1.0


def report_namespace(cluster: str) -> str:
    """Each member writes its reports into its own namespace on the hub (its RBAC allows no other)."""
    return f"m4d-member-{cluster}"


# Where a module listens inside its pod (its container's port is the template's): every address of the pod.
POD_HOST = "0.0.0.0"  # noqa: S104 - a pod's own network


@dataclass
class BlueprintAgent(Controller[Blueprint]):
    hub: Cluster = field(kw_only=True)
    settings: AgentSettings = field(kw_only=True)
    supervisor: Supervisor = field(kw_only=True, default_factory=Supervisor)
    _store: CredentialStore | None = field(default=None, init=False, repr=False)
    _store_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    modules: ClusterModules | None = field(default=None, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    trust: Trust = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.kind = Blueprint
        self.name = f"agent-{self.settings.cluster}"
        self.finalizer = AGENT_FINALIZER
        self.namespace = self.settings.namespace
        self.workers = self.settings.workers
        self.supervisor._on_change = self._module_changed
        self.trust = Trust(self.settings.cluster, lambda: self.credentials)
        # A Kubernetes member runs each instance as its workloads; an embedded one has no nodes to run them.
        client = WorkloadClient.for_member(self.cluster, field_manager=self.name)
        if client is not None:
            vault = self.settings.module_vault
            identity = PodIdentity(vault.service_account, vault.audience, vault.token_seconds) if vault else None
            self.modules = ClusterModules(client, self.settings.cluster_domain, identity, self.settings.namespace)
        elif self.supervisor.fork_server is None:
            # Local processes: the platform's modules are forked from a warm server (started when first needed).
            self.supervisor.fork_server = ForkServer(address_for(self.settings.workdir))

    def attach(self, enqueue: Callable[[ObjectKey], None], reader: Reader | None = None) -> None:
        super().attach(enqueue, reader)
        if self.modules is not None:
            self.modules.watch(self.enqueue, self._stop)

    def close(self) -> None:
        """Stop watching the member's workloads."""
        self._stop.set()

    def _module_changed(self, process_key: str) -> None:
        namespace, name, _ = process_key.split("/", 2)
        self.enqueue(ObjectKey(namespace, name))

    @property
    def credentials(self) -> CredentialStore:
        with self._store_lock:  # one store for all workers
            if self._store is None:
                self._store = open_store(self.settings.credentials)
            return self._store

    # -- decide -----------------------------------------------------------------------------------

    def _config(self, bp: Blueprint, module: BlueprintModule) -> tuple[str, str]:
        """An instance's configuration text and protocol. Raises NotFoundError while the token is missing."""
        app = bp.spec.application
        grants: list[ClientGrant] = []
        if module.deployment.kind == "Service":
            token = read_token(self.credentials, app.namespace, app.name)
            assets = sorted({a.asset_id for a in module.assets})
            grants.append(ClientGrant.for_token(f"{app.namespace}/{app.name}", token, assets))
        host = POD_HOST if self.modules is not None else self.settings.host
        config = from_blueprint(module, credentials=self._module_credentials(bp), clients=grants, host=host)
        api = next((a.api for a in module.assets if a.api is not None), None)
        return config.dump(), api.protocol if api else "fybrik-arrow-flight"

    def _module_credentials(self, bp: Blueprint) -> CredentialSource:
        """On Kubernetes with module Vault settings, modules log in to Vault themselves as the Blueprint's
        role (the Blueprint carries only the role and the credentials' paths); else the agent's source."""
        vault = self.settings.module_vault
        if self.modules is not None and vault is not None:
            return vault.source(bp)
        return self.settings.credentials

    def _run_dir(self, bp: Blueprint) -> Path:
        """The Blueprint's run directory on an embedded member: one directory per module instance."""
        return self.settings.workdir / (bp.metadata.namespace or "default") / bp.name

    def _process(self, bp: Blueprint, module: BlueprintModule, config_text: str, protocol: str) -> ProcessSpec:
        return ProcessSpec(
            key=f"{bp.metadata.namespace}/{bp.name}/{module.name}",
            command=tuple(module.deployment.command),
            workdir=self._run_dir(bp) / module.name,
            config_text=config_text,
            kind=module.deployment.kind,
            protocol=protocol,
            reloads_config=module.deployment.reloads_config,
        )

    # -- act --------------------------------------------------------------------------------------

    def reconcile(self, obj: Blueprint) -> Outcome:
        prefix = f"{obj.metadata.namespace}/{obj.name}/"
        verdict = self.trust.check(obj)
        if verdict.waiting:
            pending = {m.name: ModuleState(phase="Pending", message=verdict.refusal) for m in obj.spec.modules}
            self._report(obj, pending)
            return Outcome(status=self._status(obj, pending), requeue_after=WAIT_RETRY)
        run = verdict.run or obj.model_copy(update={"spec": obj.spec.model_copy(update={"modules": []})})
        states: dict[str, ModuleState] = {}
        waiting = False
        for module in run.spec.modules:
            if self.modules is None and not module.deployment.command:
                states[module.name] = ModuleState(
                    phase="Failed", message=f"module {module.module} has no command to run as a local process"
                )
                continue
            try:
                config_text, protocol = self._config(run, module)
            except NotFoundError:  # no token yet (or no secrets file yet): the hub mints it shortly
                app = run.spec.application
                waiting = True
                states[module.name] = ModuleState(
                    phase="Pending", message=f"waiting for the access token of application {app.namespace}/{app.name}"
                )
                continue
            except M4DError as exc:
                states[module.name] = ModuleState(phase="Failed", message=str(exc)[:1000])
                continue
            states[module.name] = self._run(run, module, config_text, protocol)
        kept = {m.name for m in run.spec.modules}
        if self.modules is not None:
            self.modules.remove(obj, keep=kept)
        else:
            self.supervisor.remove(prefix, self._run_dir(obj), keep=kept)
        # Reported as what runs: the last signed version's digest, with the refusal among the errors.
        self._report(run if verdict.run is not None else obj, states, verdict.refusal)
        status = self._status(obj, states, verdict.refusal)
        return Outcome(status=status, requeue_after=WAIT_RETRY if waiting else None)

    def _run(self, bp: Blueprint, module: BlueprintModule, config_text: str, protocol: str) -> ModuleState:
        if self.modules is None:
            return self.supervisor.ensure(self._process(bp, module, config_text, protocol))
        try:
            return self.modules.ensure(bp, module, config_text, protocol)
        except PermanentError as exc:  # a template the member refuses
            return ModuleState(phase="Failed", message=str(exc)[:1000])

    @staticmethod
    def _phase(states: dict[str, ModuleState]) -> ModulePhase:
        if any(s.phase == "Failed" for s in states.values()):
            return "Failed"
        if states and all(s.phase in ("Ready", "Completed") for s in states.values()):
            return "Ready"
        return "Pending"

    def _status(self, bp: Blueprint, states: dict[str, ModuleState], refusal: str | None = None) -> BlueprintStatus:
        phase = self._phase(states)
        current = bp.status or BlueprintStatus()
        if phase == "Ready":
            ready = Condition(type="Ready", status="True", reason="ModulesReady", message="every module is ready")
        else:
            detail = "; ".join(f"{n}: {s.message}" for n, s in sorted(states.items()) if s.message)
            reason = "ModuleFailed" if phase == "Failed" else "ModulesStarting"
            ready = Condition(type="Ready", status="False", reason=reason, message=detail or "modules are starting")
        signed = Condition(type="Signed", status="True", reason="SignedByHub", message="made by the hub")
        if refusal is not None:
            signed = Condition(type="Signed", status="False", reason="NotSignedByHub", message=refusal[:1000])
        conditions = set_condition(set_condition(current.conditions, ready), signed)
        return current.model_copy(update={"modules": states, "conditions": conditions})

    def _report(self, bp: Blueprint, states: dict[str, ModuleState], refusal: str | None = None) -> None:
        errors = [f"{n}: {s.message}" for n, s in sorted(states.items()) if s.phase == "Failed" and s.message]
        if refusal is not None:
            errors.insert(0, refusal)
        report = BlueprintReport.new(
            bp.name,
            report_namespace(self.settings.cluster),
            spec=BlueprintReportSpec(
                cluster=self.settings.cluster,
                blueprint=BlueprintRef(
                    name=bp.name,
                    namespace=bp.metadata.namespace or "default",
                    uid=bp.metadata.uid or "",
                    generation=bp.metadata.generation or 0,
                    spec_hash=spec_hash(bp.spec),
                ),
                application=bp.spec.application,
                applied_revision=bp.metadata.annotations.get(REVISION_ANNOTATION),
                phase=self._phase(states) if states or refusal is None else "Failed",
                modules=states,
                errors=cap_errors(errors),
            ),
        )
        self.hub.apply(report, field_manager=self.name)

    def finalize(self, obj: Blueprint) -> Outcome:
        prefix = f"{obj.metadata.namespace}/{obj.name}/"
        if self.modules is not None:
            self.modules.remove(obj, keep=set())
        else:
            self.supervisor.remove(prefix, self._run_dir(obj))  # its processes and run directories
        self.trust.forget(obj)
        with contextlib.suppress(NotFoundError):  # already gone is what we want
            self.hub.delete(BlueprintReport, obj.name, report_namespace(self.settings.cluster))
        log.info("blueprint %s removed from cluster %s", obj.key, self.settings.cluster)
        return Outcome()
