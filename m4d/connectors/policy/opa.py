"""OPA over its REST data API: `POST /v1/data/<package path>` with the request as `input`.

The input is the Fybrik GetPolicyDecisionsRequest form, and the document at the package path must be a
list of Fybrik ResultItems (`{"policy": ..., "action": {"name": "RedactColumn", "columns": [...]}}`, or
action name `Deny`), so rego written for Fybrik's OPA connector conventions fits. See
samples/policies/opa/ for the rego equivalent of the built-in sample policies.
"""

from __future__ import annotations

import hashlib

from m4d.connectors.http import HttpConnector, RetryPolicy
from m4d.connectors.policy.interface import PolicyManager
from m4d.connectors.policy.model import PolicyDecision, PolicyRequest
from m4d.connectors.policy.wire import decision_from_fybrik, not_an_object, request_to_fybrik
from m4d.errors import PermanentError
from m4d.taxonomy import Taxonomy, default_taxonomy

DEFAULT_PATH = "m4d/decisions"


class OpaPolicyManager(PolicyManager):
    def __init__(
        self,
        url: str,
        *,
        path: str = DEFAULT_PATH,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.path = path.strip("/")
        self.name = f"policy manager opa:{url}"
        self.taxonomy = taxonomy or default_taxonomy()
        self.http = HttpConnector(self.name, url, timeout=timeout, retry=retry or RetryPolicy())

    def decide(self, request: PolicyRequest) -> PolicyDecision:
        answer = self.http.post_json(f"/v1/data/{self.path}", {"input": request_to_fybrik(request)})
        what = f"answer of {self.name} for {request.describe()}"
        if not isinstance(answer, dict):
            raise not_an_object(what, answer)
        if "result" not in answer:
            raise PermanentError(
                f"{self.name} has no document at data.{self.path.replace('/', '.')}: load a policy package that "
                f"defines it (see samples/policies/opa/)",
                reason="PolicyMissing",
            )
        return decision_from_fybrik(self.taxonomy, {"result": answer["result"]}, what)

    def revision(self) -> str | None:
        """A digest of OPA's policy modules (`GET /v1/policies`: files, bundles and API pushes alike).
        Changes to data documents alone do not show here; the hub also asks again at an interval."""
        return hashlib.sha256(self.http.get_bytes("/v1/policies")).hexdigest()[:16]

    def close(self) -> None:
        self.http.close()
