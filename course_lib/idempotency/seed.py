"""The seed design, kept exactly as the course's source notes give it, to demonstrate its flaws.

    key = sha256(X-Idempotency-Key + body)
    if a row exists: return its response with 200
    else: do the work, upsert the response (updateOrInsert), return 201

Its order of operations is check, work, write. Nothing stops two requests from both passing the
check before either writes, so concurrent retries all do the work; the unique key on `key_hash`
only makes the last upsert win. Three more flaws: the key is not scoped to the caller, the body is
part of the key, and a crash between the work and the upsert leaves no trace.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib import failpoints
from course_lib.backends.sql_backend import upsert
from course_lib.idempotency.charges import PROVIDER_LATENCY_S, charge, payload_problem
from course_lib.idempotency.schema import api_idempotency
from course_lib.messages import Request, Response

SEED_HEADER = "X-Idempotency-Key"
# Its failpoints: the gap between the check and the work, and the one between the work and the upsert.
AFTER_CHECK, AFTER_WORK = "after_check", "after_work"


def seed_key_hash(request: Request) -> bytes:
    return hashlib.sha256((request.header(SEED_HEADER) or "").encode() + request.body).digest()


def seed_create_charge(engine: Engine, request: Request, provider_latency_s: float = PROVIDER_LATENCY_S) -> Response:
    """POST /charges the seed way: check, work, upsert. A crash armed at AFTER_WORK (a killed worker)
    leaves the charge made and no response stored."""
    if bad := payload_problem(request.body):
        return bad
    key_hash = seed_key_hash(request)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_idempotency.c.response)
                              .where(api_idempotency.c.key_hash == key_hash)).scalar_one_or_none()
    if stored is not None:
        return Response(200, stored, {"Content-Type": "application/json"})
    failpoints.point(AFTER_CHECK)  # the gap: every concurrent retry is here, having seen nothing
    ref = f"{request.user}:{request.header(SEED_HEADER) or ''}"
    response = charge(engine, request, ref=ref, provider_latency_s=provider_latency_s)
    failpoints.point(AFTER_WORK)
    with engine.begin() as conn:
        conn.execute(upsert(api_idempotency, {"key_hash": key_hash, "response": response.body},
                            update=["response"], conflict=["key_hash"], dialect=engine.dialect.name))
    return response
