"""/api/orders: idempotent create-order, and reading your own orders (notebook 02).

The create route answers with the bytes `OrderService` produced (a replay must be byte for byte the
first answer), so its body is documented with `responses=` rather than re-serialised through a
response model; `tests/test_api.py` validates every 2xx body against `OrderOut` and `OrderPage`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from course_lib import failpoints
from course_lib.api import problems
from course_lib.api.deps import ServicesDep, can
from course_lib.auth import Authenticated
from course_lib.failpoints import SimulatedCrash
from course_lib.messages import json_response
from course_lib.orders import OrderIn, OrderOut
from course_lib.orders.models import OrderPage
from course_lib.orders.service import ORDER_UPSERTED

# Honoured only when ApiConfig.fault_injection is on (the benchmark's server): lets the client pick
# which requests crash, so a run is reproducible. Never enabled by `course serve` without --faults.
FAULT_HEADER = "X-Course-Fault"
CRASH_AFTER_ORDER_INSERT = "crash-after-order-insert"

router = APIRouter(prefix="/api/orders", tags=["orders"])
Creator = Annotated[Authenticated, Depends(can("orders:create"))]
Reader = Annotated[Authenticated, Depends(can("orders:read"))]
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _injected_fault(request: Request, svc: ServicesDep) -> AbstractContextManager[object]:
    """A crash armed for this request only (its context), when the server allows injected faults."""
    if svc.config.fault_injection and request.headers.get(FAULT_HEADER) == CRASH_AFTER_ORDER_INSERT:
        return failpoints.crash_at(ORDER_UPSERTED)
    return nullcontext()


@router.post("", status_code=201, response_class=Response,
             responses={201: {"model": OrderOut, "description": "the order, created now"},
                        200: {"model": OrderOut, "description": "a retry: the first response, replayed"},
                        **problems.documented(400, 401, 403, 409, 413, 422, 502)},
             summary="Create an order, at most once per Idempotency-Key")
async def create_order(request: Request, order: OrderIn, who: Creator, svc: ServicesDep,
                       idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Response:
    del order  # validated by FastAPI for the schema; the service fingerprints the raw bytes
    body = await request.body()  # already read by FastAPI: cached, no second read
    try:
        with _injected_fault(request, svc):  # the thread-pool hop below carries this context
            outcome = await run_in_threadpool(svc.orders.create, who.user_id, idempotency_key, body)
    except SimulatedCrash:
        request.state.log.update(lock="held by the crashed worker")
        return problems.problem_response(502, "Worker crashed", "injected fault: the worker died after writing "
                                         "the order and before storing the response; retry with the same key")
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
