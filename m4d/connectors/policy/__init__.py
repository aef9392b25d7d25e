"""Policy manager connectors: the built-in rules engine, OPA, and the Fybrik policy-manager REST client."""

from m4d.connectors.policy.builtin import BuiltinPolicyEngine
from m4d.connectors.policy.fybrik import FybrikPolicyManager
from m4d.connectors.policy.interface import PolicyManager
from m4d.connectors.policy.model import DecidedAction, PolicyDecision, PolicyRequest
from m4d.connectors.policy.opa import OpaPolicyManager

__all__ = [
    "BuiltinPolicyEngine",
    "DecidedAction",
    "FybrikPolicyManager",
    "OpaPolicyManager",
    "PolicyDecision",
    "PolicyManager",
    "PolicyRequest",
]
