"""The policy manager connector interface."""

from __future__ import annotations

from abc import ABC, abstractmethod

from m4d.connectors.policy.model import PolicyDecision, PolicyRequest


class PolicyManager(ABC):
    """Decides what may be done with data. Errors: TemporaryError (down or slow: retry later),
    PermanentError/InvalidError (the answer or the policies are unusable). A denial is an answer."""

    #: Says which policy manager this is in messages, e.g. `policy manager opa:http://127.0.0.1:8181`.
    name: str
    #: Whether `revision()` changes with everything answers depend on (else it is also asked again
    #: at an interval).
    revision_is_complete: bool = False

    @abstractmethod
    def decide(self, request: PolicyRequest) -> PolicyDecision: ...

    def revision(self) -> str | None:
        """What the policies are now, as a value that changes whenever they change (cheap to ask: the
        hub asks every second or so). None: the policy manager cannot tell, so it is asked again at an
        interval instead. Errors: as `decide`'s (the hub then keeps its last answer)."""
        return None

    def close(self) -> None:
        """Release connections; the built-in engine has none."""
