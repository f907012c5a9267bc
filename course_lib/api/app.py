"""The course API: Sanctum-style tokens and idempotent create-order, over real HTTP (FastAPI).

    app = create_app(engine, redis_client)          # or api.start() for a running server

Routes are thin: each authenticates, checks an ability, and calls the same `TokenService` and
`OrderService` that notebooks call in-process, so a lesson can show a mechanism directly first
and over HTTP second. Handlers are plain `def`: FastAPI runs them in its thread pool, where the
blocking SQL and Redis calls belong.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at runtime,
# and the `Caller` alias below is local to create_app.

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import redis
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from .. import backends
from ..auth import ABILITIES, Authenticated, AuthError, TokenService, check_credentials
from ..demo_posts import PostControls
from ..faults import SimulatedCrash
from ..idempotency.messages import json_response
from ..orders import DEFAULT_CLAIM_LEASE, DEFAULT_LOCK_LEASE_MS, OrderIn, OrderOut, OrderService
from ..orders.models import MeOut, OrderPage, Problem, TokenIn, TokenOut
from ..orders.service import check_leases
from ..s3.service import UploadService
from . import posts, problems, uploads
from .middleware import MAX_BODY_BYTES, BodyLimit, RequestLog

# Honoured only when ApiConfig.fault_injection is on (the benchmark's server): lets the client pick
# which requests crash, so a run is reproducible. Never enabled by `course serve` without --faults.
FAULT_HEADER = "X-Course-Fault"
CRASH_AFTER_ORDER_INSERT = "crash-after-order-insert"


@dataclass(frozen=True)
class ApiConfig:
    claim_lease: timedelta = DEFAULT_CLAIM_LEASE
    lock_lease_ms: int = DEFAULT_LOCK_LEASE_MS
    fault_injection: bool = False
    max_body_bytes: int = MAX_BODY_BYTES

    def __post_init__(self) -> None:
        check_leases(self.claim_lease, self.lock_lease_ms)


def _problems(*statuses: int) -> dict:
    return {s: {"model": Problem, "content": {"application/problem+json": {}}} for s in statuses}


def create_app(engine: Engine, redis_client: redis.Redis, config: ApiConfig | None = None,
               upload_service: UploadService | None = None, post_controls: PostControls | None = None) -> FastAPI:
    """The course API on `engine` and `redis_client`. Uploads use `upload_service`, or one on this
    process's S3 backend, created on the first upload request (no S3 server starts before that)."""
    config = config or ApiConfig()
    tokens = TokenService(engine)
    orders = OrderService(engine, redis_client, claim_lease=config.claim_lease, lock_lease_ms=config.lock_lease_ms)
    bearer = HTTPBearer(auto_error=False, description="a token from POST /api/tokens: `Bearer {id}|{secret}`")

    def caller(request: Request, _scheme: Annotated[object, Depends(bearer)] = None) -> Authenticated:
        who = tokens.authenticate(request.headers.get("authorization"))
        request.state.log["user_id"] = who.user_id
        return who

    def can(ability: str):
        def check(who: Annotated[Authenticated, Depends(caller)]) -> Authenticated:
            who.require(ability)
            return who
        return check

    Caller = Annotated[Authenticated, Depends(caller)]
    app = FastAPI(title="Backend Reliability Lab API", version="1.0",
                  description="Sanctum-style tokens, idempotent create-order and presigned multipart uploads "
                              "(notebooks 02, 05 and 07).")
    problems.install(app)

    @app.post("/api/tokens", status_code=201, response_model=TokenOut, responses=_problems(400, 401, 413, 422),
              summary="Log in with e-mail and password; the token is shown once")
    def create_token(body: TokenIn, response: Response) -> TokenOut:
        abilities = body.abilities if body.abilities is not None else list(ABILITIES)
        unknown = sorted(set(abilities) - set(ABILITIES))
        if unknown:
            raise AuthError(422, "Unknown ability", f"{unknown} are not abilities; choose from {list(ABILITIES)}")
        user_id = check_credentials(engine, body.email, body.password)
        new = tokens.create(user_id, body.token_name, abilities, timedelta(days=body.expires_in_days))
        response.headers["Cache-Control"] = "no-store"  # a token must not sit in a proxy's cache
        return TokenOut(id=new.id, token=new.plain_text, abilities=list(new.abilities), expires_at=new.expires_at)

    @app.delete("/api/tokens/{token_id}", status_code=204, responses=_problems(401, 404, 422),
                summary="Revoke one of your tokens (it stops working at once)")
    def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**63 - 1)], who: Caller) -> Response:
        if not tokens.revoke(who.user_id, token_id):
            return problems.problem_response(404, "Not found", f"you have no token {token_id}")
        return Response(status_code=204)

    @app.get("/api/me", response_model=MeOut, responses=_problems(401))
    def me(who: Caller) -> MeOut:
        return MeOut(id=who.user_id, email=who.email, name=who.name, token_id=who.token_id,
                     token_name=who.token_name, abilities=list(who.abilities), token_expires_at=who.expires_at)

    @app.post("/api/orders", status_code=201, response_model=OrderOut,
              responses={200: {"model": OrderOut, "description": "a retry: the first response, replayed"},
                         **_problems(400, 401, 403, 409, 413, 422, 502)},
              summary="Create an order, at most once per Idempotency-Key")
    async def create_order(request: Request, order: OrderIn,
                     who: Annotated[Authenticated, Depends(can("orders:create"))],
                     idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Response:
        del order  # validated by FastAPI for the schema; the service fingerprints the raw bytes
        body = await request.body()  # already read by FastAPI: cached, no second read
        crash = config.fault_injection and request.headers.get(FAULT_HEADER) == CRASH_AFTER_ORDER_INSERT
        try:  # blocking SQL and Redis: off the event loop, into the thread pool
            outcome = await run_in_threadpool(orders.create, who.user_id, idempotency_key, body,
                                              CRASH_AFTER_ORDER_INSERT if crash else None)
        except SimulatedCrash:
            request.state.log.update(lock="held by the crashed worker")
            return problems.problem_response(502, "Worker crashed", "injected fault: the worker died after writing "
                                             "the order and before storing the response; retry with the same key")
        request.state.log.update(idem_key_hash=outcome.key_hash, lock=outcome.lock, replay=outcome.replayed)
        return problems.plain(outcome.response)

    @app.get("/api/orders/{order_id}", response_model=OrderOut, responses=_problems(401, 403, 404, 422))
    def get_order(order_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
                  who: Annotated[Authenticated, Depends(can("orders:read"))]) -> Response:
        found = orders.get(who.user_id, order_id)
        if found is None:  # another user's order is "not found" too: ids reveal nothing
            return problems.problem_response(404, "Not found", f"you have no order {order_id}")
        return problems.plain(json_response(200, found))

    @app.get("/api/orders", response_model=OrderPage, responses=_problems(400, 401, 403, 422))
    def list_orders(who: Annotated[Authenticated, Depends(can("orders:read"))],
                    limit: Annotated[int, Query(ge=1, le=100)] = 20,
                    cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        try:
            page = orders.list_orders(who.user_id, limit, cursor)
        except ValueError as exc:
            return problems.problem_response(400, "Bad cursor", str(exc))
        return problems.plain(json_response(200, page))

    uploads.install(app, functools.cache(lambda: upload_service or UploadService.on(engine, backends.s3())), can)
    posts.install(app, engine, post_controls or PostControls())

    app.add_middleware(RequestLog)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)  # outermost: runs first
    return app
