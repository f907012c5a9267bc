"""The work an idempotency key protects: creating a charge (think: a card payment).

`charge()` is deliberately the slow, side-effecting kind of work that retries duplicate: a call to
a payment provider (simulated by a pause, outside any transaction: no network call may hold a
database transaction open) followed by recording the charge.

`charge_operation()` is the same work split for the claim-first store: the provider call outside
any transaction, then the charge row, which carries the idempotency key under a unique index, so
a second holder finds the first one's row instead of charging again. That unique index is the
recovery point that makes "exactly once" hold even when the claim's lease expired while the first
worker was still alive.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from course_lib import failpoints
from course_lib.backends.sql_backend import insert_ignore, inserted_id
from course_lib.idempotency.operation import Operation
from course_lib.idempotency.schema import charges
from course_lib.messages import Request, Response, json_response, problem

# The pretend payment provider's latency. 5 ms is a fast provider on a good day; long enough that
# concurrent retries overlap it, short enough that a 64-caller stress run takes well under a second.
PROVIDER_LATENCY_S = 0.005


def payload_problem(body: bytes) -> Response | None:
    """400 for a body that is not {"amount": positive int, "currency": 3 capital letters}, else None."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return problem(400, "Malformed JSON", 'the body must be JSON like {"amount": 1000, "currency": "EUR"}')
    if not isinstance(payload, dict):
        return problem(400, "Invalid charge", 'the body must be a JSON object like {"amount": 1000, "currency": "EUR"}')
    amount, currency = payload.get("amount"), payload.get("currency")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return problem(400, "Invalid charge", f"amount must be a positive integer of minor units, got {amount!r}")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha() and currency.isupper()):
        return problem(400, "Invalid charge", f"currency must be a 3-letter ISO code like EUR, got {currency!r}")
    return None


def _charge_body(row: Any) -> Response:
    return json_response(201, {"charge_id": row.id, "user": row.user_id, "amount": row.amount,
                               "currency": row.currency})


def _call_provider(provider_latency_s: float) -> None:
    failpoints.note("provider called")
    time.sleep(provider_latency_s)


def charge(engine: Engine, request: Request, ref: str, provider_latency_s: float = PROVIDER_LATENCY_S) -> Response:
    """Charge the caller: call the provider, record the charge, answer 201. Runs again if called again."""
    payload = request.json()
    _call_provider(provider_latency_s)
    with engine.begin() as conn:
        new_id = inserted_id(conn.execute(sa.insert(charges).values(
            user_id=request.user, amount=payload["amount"], currency=payload["currency"], request_ref=ref,
        )))
        row = conn.execute(sa.select(charges).where(charges.c.id == new_id)).one()
    return _charge_body(row)


def call_provider(request: Request, scope: str, key: str,
                  provider_latency_s: float = PROVIDER_LATENCY_S) -> None:
    """The external half of a charge: the provider call, outside any transaction.

    A real provider receives `scope:key` as its own idempotency key, so a takeover's repeated call
    is deduplicated there; the recorded charge below is deduplicated here.
    """
    _call_provider(provider_latency_s)


def record_charge(conn: Connection, request: Request, scope: str, key: str, _external: Any = None) -> Response:
    """The database half: the charge row, unique on (scope, key). Finds an earlier holder's row
    instead of adding a second, so every holder answers the same body."""
    payload = request.json()
    dialect = conn.dialect.name
    conn.execute(insert_ignore(charges, {
        "user_id": request.user, "amount": payload["amount"], "currency": payload["currency"],
        "request_ref": f"{scope}:{key}", "idem_scope": scope, "idem_key": key,
    }, dialect))
    # A locking read sees the latest committed row, whoever inserted it.
    row = conn.execute(sa.select(charges).where(charges.c.idem_scope == scope, charges.c.idem_key == key)
                       .with_for_update(read=True)).one()
    return _charge_body(row)


def charge_operation(provider_latency_s: float = PROVIDER_LATENCY_S) -> Operation:
    """POST /charges as an Operation for the claim-first store."""
    return Operation(external=lambda req, scope, key: call_provider(req, scope, key, provider_latency_s),
                     record=record_charge)


def executions(engine: Engine) -> dict[str, int]:
    """How many charges each client request caused: the number the lesson is about."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(charges.c.request_ref, sa.func.count()).group_by(charges.c.request_ref))
        return {ref: n for ref, n in rows}
