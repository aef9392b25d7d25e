"""Client of the Fybrik policy-manager connector REST API (`POST /getPoliciesDecisions`)."""

from __future__ import annotations

from m4d.connectors.http import HttpConnector, RetryPolicy
from m4d.connectors.policy.interface import PolicyManager
from m4d.connectors.policy.model import PolicyDecision, PolicyRequest
from m4d.connectors.policy.wire import decision_from_fybrik, not_an_object, request_to_fybrik
from m4d.taxonomy import Taxonomy, default_taxonomy

CREDENTIAL_HEADER = "X-Request-Cred"


class FybrikPolicyManager(PolicyManager):
    def __init__(
        self,
        url: str,
        *,
        credentials: str = "",
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.name = f"policy manager fybrik:{url}"
        self.credentials = credentials
        self.taxonomy = taxonomy or default_taxonomy()
        self.http = HttpConnector(self.name, url, timeout=timeout, retry=retry or RetryPolicy())

    def decide(self, request: PolicyRequest) -> PolicyDecision:
        answer = self.http.post_json(
            "/getPoliciesDecisions", request_to_fybrik(request), headers={CREDENTIAL_HEADER: self.credentials}
        )
        what = f"answer of {self.name} for {request.describe()}"
        if not isinstance(answer, dict):
            raise not_an_object(what, answer)
        return decision_from_fybrik(self.taxonomy, answer, what)

    def close(self) -> None:
        self.http.close()
