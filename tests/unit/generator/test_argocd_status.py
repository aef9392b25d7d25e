"""Argo CD's view of a member cluster, parsed from the Application's status as Argo CD v3.6 writes it."""

from __future__ import annotations

from m4d.generator.argocd_status import ArgoCDStatus

APPLICATION = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "m4d-eu-de-1", "namespace": "argocd"},
    "spec": {"project": "m4d"},
    "status": {
        "sync": {"status": "Synced", "revision": "0123456789abcdef0123", "comparedTo": {"source": {}}},
        "health": {"status": "Degraded", "lastTransitionTime": "2026-12-03T12:00:00Z"},
        "operationState": {
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": "2026-12-03T11:59:59Z",
            "finishedAt": "2026-12-03T12:00:00Z",
            "syncResult": {"revision": "0123456789abcdef0123", "resources": []},
            "operation": {"sync": {"revision": "0123456789abcdef0123"}},
        },
        "resources": [
            {"kind": "Namespace", "name": "m4d-blueprints", "status": "Synced"},
            {"group": "app.m4d.dev", "kind": "Blueprint", "name": "default-a-1", "namespace": "m4d-blueprints",
             "status": "Synced", "health": {"status": "Healthy", "message": "1/1 modules ready"}},
            {"group": "app.m4d.dev", "kind": "Blueprint", "name": "default-b-2", "namespace": "m4d-blueprints",
             "status": "Synced", "health": {"status": "Degraded", "message": "Module read failed: no such file"}},
        ],
        "reconciledAt": "2026-12-03T12:00:01Z",
    },
}  # fmt: skip


def test_the_status_argocd_writes_is_read_field_by_field() -> None:
    status = ArgoCDStatus.parse(APPLICATION)
    assert (status.namespace, status.name) == ("argocd", "m4d-eu-de-1")
    assert status.status.sync.status == "Synced" and status.status.health.status == "Degraded"
    op = status.status.operation_state
    assert op is not None and op.phase == "Succeeded" and op.finished_at == "2026-12-03T12:00:00Z"
    assert dict(status.lines()) == {
        "Application": "argocd/m4d-eu-de-1",
        "Sync": "Synced at 0123456789ab",
        "Health": "Degraded",
        "Operation": "Succeeded at 0123456789ab, finished 2026-12-03T12:00:00Z: successfully synced (all tasks run)",
        "Resources": "3 (1 -, 1 Degraded, 1 Healthy)",
        "  Blueprint/default-b-2": "Degraded: Module read failed: no such file",
    }


def test_an_application_argocd_has_not_reconciled_yet() -> None:
    status = ArgoCDStatus.parse({"metadata": {"name": "m4d-x", "namespace": "argocd"}})
    assert dict(status.lines()) == {
        "Application": "argocd/m4d-x",
        "Sync": "Unknown",
        "Health": "Unknown",
        "Operation": "<none>",
        "Resources": "0",
    }
