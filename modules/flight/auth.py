"""Bearer-token authentication for the Flight module, as server middleware.

Each call must carry `authorization: Bearer <token>`; the token's SHA-256 digest is compared (in
constant time) with the digests in the configuration, which grant one application a set of assets.
Tokens themselves are never stored, logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from pyarrow import flight

from m4d.modules.config import ClientGrant
from m4d.modules.flight.refusals import unauthenticated

MIDDLEWARE_KEY = "m4d-auth"


@dataclass(frozen=True)
class Caller:
    application: str
    assets: frozenset[str]

    def may_use(self, asset_id: str) -> bool:
        return asset_id in self.assets


class CallerMiddleware(flight.ServerMiddleware):  # type: ignore[misc]
    def __init__(self, caller: Caller) -> None:
        self.caller = caller


class BearerAuthFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    def __init__(self, grants: list[ClientGrant]) -> None:
        super().__init__()
        self._grants = [(bytes.fromhex(g.token_sha256), Caller(g.application, frozenset(g.assets))) for g in grants]

    def _find(self, token: str) -> Caller | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, caller in self._grants:  # compare with every grant: timing does not tell which matched
            if hmac.compare_digest(known, digest):
                found = caller
        return found

    def start_call(self, info: Any, headers: dict[str, list[str]]) -> CallerMiddleware:
        values = headers.get("authorization") or headers.get("Authorization") or []
        caller = None
        for value in values:
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token:
                caller = self._find(token.strip())
        if caller is None:
            raise unauthenticated("a valid bearer token is required (authorization: Bearer ...)")
        return CallerMiddleware(caller)


def caller_of(context: Any) -> Caller:
    middleware = context.get_middleware(MIDDLEWARE_KEY)
    if middleware is None:  # the factory refuses unauthenticated calls before this point
        raise unauthenticated("not authenticated")
    caller: Caller = middleware.caller
    return caller
