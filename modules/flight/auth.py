"""Bearer-token authentication for the Flight module, as server middleware.

Each call must carry `authorization: Bearer <token>`; the token's SHA-256 digest is compared (in
constant time) with the digests the module's configuration grants, which give one application a set of
assets. The grants are looked up when each call starts, in what the module serves then, so a reloaded
configuration applies from the next call on. Tokens themselves are never stored, logged or echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyarrow import flight

from m4d.modules.flight.refusals import unauthenticated

MIDDLEWARE_KEY = "m4d-auth"


@dataclass(frozen=True)
class Caller:
    application: str
    assets: frozenset[str]
    digest: bytes  # of the caller's token: how a stream finds its caller again after a reload

    def may_use(self, asset_id: str) -> bool:
        return asset_id in self.assets


class CallerMiddleware(flight.ServerMiddleware):  # type: ignore[misc]
    def __init__(self, caller: Caller) -> None:
        self.caller = caller


class BearerAuthFactory(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """`find(token)`: the caller a token stands for under the current grants, or None."""

    def __init__(self, find: Callable[[str], Caller | None]) -> None:
        super().__init__()
        self._find = find

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
