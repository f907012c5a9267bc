"""The API's dependency providers: the services routes share, and who is calling with what abilities.

`create_app` builds the services once and keeps them on `app.state`; routes ask for them with
`Depends`, so a route is a plain function of its inputs and a test can build an app around other
services without patching anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPBearer
from pydantic import BeforeValidator
from sqlalchemy.engine import Engine

from course_lib.api.middleware import MAX_BODY_BYTES
from course_lib.auth import Authenticated, TokenService
from course_lib.auth.tokens import parse_bearer
from course_lib.orders import DEFAULT_CLAIM_LEASE, DEFAULT_LOCK_LEASE_MS, OrderService
from course_lib.orders.service import check_leases
from course_lib.s3.service import UploadService
from course_lib.ui.posts import PostControls


@dataclass(frozen=True)
class ApiConfig:
    claim_lease: timedelta = DEFAULT_CLAIM_LEASE
    lock_lease_ms: int = DEFAULT_LOCK_LEASE_MS
    fault_injection: bool = False  # honour FAULT_HEADER (the benchmark's server only)
    redis_lock: bool = True  # the case study's Redis lock in front of the claim (`course serve --no-lock`: off)
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        check_leases(self.claim_lease, self.lock_lease_ms)


@dataclass(frozen=True)
class Services:
    """Everything the routes call, built once per app."""

    engine: Engine
    config: ApiConfig
    tokens: TokenService
    orders: OrderService
    uploads: Callable[[], UploadService]  # resolved on first use: no S3 server starts before an upload
    post_controls: PostControls


_ASCII_ID = re.compile(r"[0-9]{1,19}")


def _ascii_digits(value: object) -> object:
    """Ids in paths are ASCII digits: int() alone also reads "1.0", " 1 " and "١٢" (Arabic-Indic 12)."""
    if isinstance(value, str) and not _ASCII_ID.fullmatch(value):
        raise ValueError("an id is a whole number written in ASCII digits")
    return value


# A positive id in a path, as the database stores it (BIGINT).
Id = Annotated[int, BeforeValidator(_ascii_digits), Path(ge=1, le=2**63 - 1)]

bearer = HTTPBearer(auto_error=False, description="a token from POST /api/tokens: `Bearer {id}|{secret}`")


async def services(request: Request) -> Services:
    """The app's services (async: no I/O, so FastAPI calls it on the event loop instead of a worker thread)."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(services)]


def caller(request: Request, svc: ServicesDep, _scheme: Annotated[object, Depends(bearer)] = None
           ) -> Authenticated:
    """The authenticated caller (AuthError -> 401 otherwise); recorded on the request's log line."""
    who = svc.tokens.authenticate(request.headers.get("authorization"))
    request.state.log["user_id"] = who.user_id
    return who


Caller = Annotated[Authenticated, Depends(caller)]


async def bearer_header(request: Request, _scheme: Annotated[object, Depends(bearer)] = None) -> str | None:
    """The Authorization header once it has a token's shape (AuthError -> 401 otherwise), for a route that
    looks the token up itself, in the worker thread that does the rest of its work (create-order). The
    shape needs no I/O, so it is checked here, on the event loop, before the body is validated: a missing
    or malformed token is a 401 whatever the body."""
    header = request.headers.get("authorization")
    parse_bearer(header, request.app.state.services.tokens.prefix)
    return header


BearerHeader = Annotated[str | None, Depends(bearer_header)]


def can(ability: str) -> Callable[[Authenticated], Coroutine[Any, Any, Authenticated]]:
    """A dependency: the caller, if its token holds `ability` (AuthError -> 403 otherwise)."""

    async def check(who: Caller) -> Authenticated:  # no I/O: on the event loop, not one more thread-pool hop
        who.require(ability)
        return who

    return check
