"""Exercise for notebook 01: the decision at the heart of the claim step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from .. import backends
from ..clock import ManualClock
from ..faults import SimulatedCrash
from ..idempotency import create_charge, reset
from ..idempotency.scenarios import charge_request, concurrent_retries
from ..idempotency.store import IdempotencyStore
from . import exercise

Decide = Callable[[Any, str, datetime], str]


@exercise("decide_claim", hint="check in this order: past expires_at -> 'new'; other fingerprint -> 'mismatch'; "
          "completed -> 'completed'; lease still valid -> 'in_flight'; else 'takeover'")
def check_decide_claim(decide: Decide) -> Iterator[tuple[str, bool]]:
    engine = backends.sql().engine
    reset(engine)
    clock = ManualClock()
    store = IdempotencyStore(engine, clock=clock, decide=decide)
    endpoint = lambda req: create_charge(store, req)  # noqa: E731

    race_run = concurrent_retries(engine, endpoint, charge_request(key="ex-race"), callers=4, schedule="round_robin")
    yield f"4 concurrent copies: one 201, three 409 (got {race_run.statuses})", sorted(race_run.statuses) == [
        201, 409, 409, 409]
    first = race_run.responses["A"] if race_run.responses["A"].status == 201 else None
    replay = endpoint(charge_request(key="ex-race"))
    yield "a retry after completion replays the body byte for byte with 200", (
        first is not None and replay.status == 200 and replay.body == first.body)
    changed = endpoint(charge_request(key="ex-race", amount=999))
    yield f"same key, different amount: 422 (got {changed.status})", changed.status == 422

    crash_req = charge_request(key="ex-crash")
    try:
        create_charge(store, crash_req, crash="after_work")
    except SimulatedCrash:
        pass
    during = endpoint(crash_req)
    yield f"retry while the crashed worker's lease is valid: 409 (got {during.status})", during.status == 409
    clock.advance(store.lease.total_seconds() + 1)
    after = endpoint(crash_req)
    again = concurrent_retries(engine, endpoint, crash_req, callers=1)
    yield f"retry after the lease expired: 201 (got {after.status})", after.status == 201
    yield f"the crashed request charged exactly once (got {again.executions})", again.executions == 1
