"""POST /charges two ways: the seed design and the claim-first design, same inputs, same outputs."""

from __future__ import annotations

from .charges import PROVIDER_LATENCY_S, charge_operation, payload_problem
from .messages import Request, Response
from .seed import seed_create_charge
from .store import IdempotencyStore


def create_charge(store: IdempotencyStore, request: Request, crash: str | None = None,
                  provider_latency_s: float = PROVIDER_LATENCY_S) -> Response:
    """POST /charges, claim-first: validate (nothing written on bad input), claim, charge once, store."""
    if bad := payload_problem(request.body):
        return bad
    return store.handle(request, charge_operation(provider_latency_s), crash=crash)


__all__ = ["create_charge", "seed_create_charge"]
