"""The Fybrik policy-manager wire forms (GetPolicyDecisionsRequest / ResultItem), also used with OPA."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from m4d.api.common import Action
from m4d.connectors.catalog.model import pydantic_errors
from m4d.connectors.fybrik import action_from_fybrik, action_to_fybrik, metadata_to_fybrik
from m4d.connectors.policy.model import DecidedAction, PolicyDecision, PolicyRequest
from m4d.errors import FieldError, InvalidError
from m4d.taxonomy import Taxonomy
from m4d.taxonomy import fybrik as fybrik_schema

DENY = "Deny"


def request_to_fybrik(request: PolicyRequest) -> dict[str, Any]:
    action: dict[str, Any] = {"actionType": request.action}
    if request.processing_geography:
        action["processingLocation"] = request.processing_geography
    if request.destination:
        action["destination"] = request.destination
    context: dict[str, Any] = {**request.context.properties, "intent": request.context.intent}
    if request.context.role:
        context["role"] = request.context.role
    return {
        "action": action,
        "resource": {"id": request.asset.id, "metadata": metadata_to_fybrik(request.asset, request.geography)},
        "context": context,
    }


def decision_from_fybrik(taxonomy: Taxonomy, answer: Any, what: str) -> PolicyDecision:
    """A GetPolicyDecisionsResponse, checked against Fybrik's schema and our taxonomy, as a decision."""
    errors = fybrik_schema.check("policymanager.json#/definitions/GetPolicyDecisionsResponse", answer)
    if errors:
        raise InvalidError(what, errors)
    decision = PolicyDecision(message=answer.get("message") or None)
    for i, item in enumerate(answer["result"]):
        policy, raw = str(item["policy"]), item["action"]
        path = f"result[{i}].action"
        if raw.get("name") == DENY:
            decision.denied = True
            decision.deny_policies.append(policy)
            continue
        wire = action_from_fybrik(raw)
        problems = taxonomy.check_action(wire, path)
        if problems:
            errors += problems
            continue
        try:
            decision.actions.append(DecidedAction(action=Action.model_validate(wire), policy=policy))
        except ValidationError as exc:
            errors += pydantic_errors(exc, path)
    if errors:
        raise InvalidError(what, errors)
    if decision.denied:
        decision.actions = []
    return decision


def results_to_fybrik(decision: PolicyDecision) -> list[dict[str, Any]]:
    """The ResultItems of a decision (what a Fybrik policy connector answers)."""
    if decision.denied:
        return [{"policy": p, "action": {"name": DENY}} for p in decision.deny_policies]
    return [{"policy": a.policy, "action": action_to_fybrik(a.action)} for a in decision.actions]


def not_an_object(what: str, answer: Any) -> InvalidError:
    return InvalidError(what, [FieldError("", f"must be a JSON object (got {type(answer).__name__})")])
