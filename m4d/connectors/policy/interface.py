"""The policy manager connector interface."""

from __future__ import annotations

from abc import ABC, abstractmethod

from m4d.connectors.policy.model import PolicyDecision, PolicyRequest


class PolicyManager(ABC):
    """Decides what may be done with data. Errors: TemporaryError (down or slow: retry later),
    PermanentError/InvalidError (the answer or the policies are unusable). A denial is an answer."""

    #: Says which policy manager this is in messages, e.g. `policy manager opa:http://127.0.0.1:8181`.
    name: str

    @abstractmethod
    def decide(self, request: PolicyRequest) -> PolicyDecision: ...

    def close(self) -> None:
        """Release connections; the built-in engine has none."""
