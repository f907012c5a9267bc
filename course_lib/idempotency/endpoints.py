"""POST /charges two ways: the seed design and the claim-first design, same inputs, same outputs."""

from __future__ import annotations

from course_lib.idempotency.charges import PROVIDER_LATENCY_S, charge_operation, payload_problem
from course_lib.idempotency.seed import seed_create_charge
from course_lib.idempotency.store import IdempotencyStore
from course_lib.messages import Request, Response


def create_charge(store: IdempotencyStore, request: Request, provider_latency_s: float = PROVIDER_LATENCY_S
                  ) -> Response:
    """POST /charges, claim-first: validate (nothing written on bad input), claim, charge once, store."""
    if bad := payload_problem(request.body):
        return bad
    return store.handle(request, charge_operation(provider_latency_s))


__all__ = ["create_charge", "seed_create_charge"]
