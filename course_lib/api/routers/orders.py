"""/api/orders: idempotent create-order, and reading your own orders (notebook 02).

The create route answers with the bytes `OrderService` produced (a replay must be byte for byte the
first answer), so its body is documented with `responses=` rather than re-serialised through a
response model; `tests/test_api.py` validates every 2xx body against `OrderOut` and `OrderPage`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from course_lib import failpoints
from course_lib.api import problems
from course_lib.api.deps import BearerHeader, Id, Services, ServicesDep, can
from course_lib.auth import Authenticated
from course_lib.idempotency.keys import HEADER, MAX_KEY_LENGTH
from course_lib.idempotency.store import AFTER_EXTERNAL_CALL
from course_lib.messages import json_response
from course_lib.orders import OrderIn, OrderOut
from course_lib.orders.models import OrderPage
from course_lib.orders.service import OrderOutcome, WorkerCrashed

# Honoured only when ApiConfig.fault_injection is on (the benchmark's server): lets the client pick
# which requests crash, so a run is reproducible. Never enabled by `course serve` without --faults.
FAULT_HEADER = "X-Course-Fault"
# The worker dies after its claim committed and before the transaction that writes the order and stores
# the response: the one place left where a crash leaves something behind (a claim, until its lease ends).
CRASH_AFTER_CLAIM = "crash-after-claim"

router = APIRouter(prefix="/api/orders", tags=["orders"])
Reader = Annotated[Authenticated, Depends(can("orders:read"))]
OrderId = Id
# Documented here, parsed by the service (course_lib.idempotency.keys), which answers 400 for a bad key.
KeyHeader = Annotated[str | None, Header(
    alias=HEADER,
    description=f"An RFC 8941 String, e.g. \"8e03978e-40d5-43e8-bc93-6894a57f9324\": 1 to {MAX_KEY_LENGTH} printable "
                "ASCII characters between the quotes (the unquoted spelling of the same characters is the same key). "
                "One per operation; send it again unchanged when you retry. Records are kept 24 hours.",
    json_schema_extra={"x-key-max-length": MAX_KEY_LENGTH}, examples=['"8e03978e-40d5-43e8-bc93-6894a57f9324"'])]


def _injected_fault(request: Request, svc: Services) -> AbstractContextManager[object]:
    """A crash armed for this request only (its context), when the server allows injected faults."""
    if svc.config.fault_injection and request.headers.get(FAULT_HEADER) == CRASH_AFTER_CLAIM:
        return failpoints.crash_at(AFTER_EXTERNAL_CALL)
    return nullcontext()


def _create_as_caller(svc: Services, authorization: str | None, log: dict, order: OrderIn, field: str | None,
                      body: bytes, key_lines: int) -> OrderOutcome:
    """The whole request in one worker thread and on one pooled connection: the token lookup (its
    transaction left open, so the claim's COMMIT ends both; on SQLite committed at once), the ability
    check, then create-order's claim and write on that same connection. One thread-pool hop and one
    checkout (with its pre-ping) where a dependency per step took one each."""
    with svc.engine.connect() as conn:
        who = svc.tokens.authenticate(authorization, conn)
        log["user_id"] = who.user_id
        who.require("orders:create")
        return svc.orders.create(who.user_id, field, body, key_lines, conn=conn, order=order)


@router.post("", status_code=201, response_class=Response,
             responses={201: {"model": OrderOut, "description": "the order, created now"},
                        200: {"model": OrderOut, "description": "a retry: the first response, replayed"},
                        **problems.documented(400, 401, 403, 409, 413, 422, 502)},
             summary="Create an order, at most once per Idempotency-Key")
async def create_order(request: Request, order: OrderIn, authorization: BearerHeader,
                       idempotency_key: KeyHeader = None) -> Response:
    del idempotency_key  # parsed by the service from the raw field lines
    svc: Services = request.app.state.services  # not a dependency: each one costs FastAPI work per request
    body = await request.body()  # already read by FastAPI: cached, no second read
    lines = request.headers.getlist(HEADER)  # every field line: two of them are a 400, not a silent pick
    field = ", ".join(lines) if lines else None
    try:
        with _injected_fault(request, svc):  # the thread-pool hop below carries this context
            outcome = await run_in_threadpool(_create_as_caller, svc, authorization, request.state.log, order,
                                              field, body, len(lines))
    except WorkerCrashed as died:
        request.state.log.update(idem_key_hash=died.key_hash, lock="held by the crashed worker")
        return problems.problem_response(502, "Worker crashed", "injected fault: the worker died after claiming "
                                         "the key and before writing the order; retry with the same key")
    request.state.log.update(idem_key_hash=outcome.key_hash, lock=outcome.lock.value, replay=outcome.replayed)
    return problems.plain(outcome.response)


@router.get("/{order_id}", response_class=Response, responses={200: {"model": OrderOut},
                                                               **problems.documented(401, 403, 404, 422)})
def get_order(order_id: OrderId, who: Reader, svc: ServicesDep) -> Response:
    found = svc.orders.get(who.user_id, order_id)
    if found is None:  # another user's order is "not found" too: ids reveal nothing
        return problems.problem_response(404, "Not found", f"you have no order {order_id}")
    return problems.plain(json_response(200, found))


@router.get("", response_class=Response, responses={200: {"model": OrderPage},
                                                    **problems.documented(400, 401, 403, 422)})
def list_orders(who: Reader, svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    try:
        page = svc.orders.list_orders(who.user_id, limit, cursor)
    except ValueError as exc:
        return problems.problem_response(400, "Bad cursor", str(exc))
    return problems.plain(json_response(200, page))
