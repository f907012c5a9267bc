"""Exercise for notebook 01: the decision at the heart of the claim step."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from course_lib import backends
from course_lib.clock import ManualClock
from course_lib.failpoints import SimulatedCrash, crash_at
from course_lib.idempotency import create_charge, reset
from course_lib.idempotency.store import AFTER_EXTERNAL_CALL, ClaimOutcome, IdempotencyStore
from course_lib.lab.exercises import exercise
from course_lib.lab.scenarios.idempotency import charge_request, concurrent_retries

Decide = Callable[[Any, str, datetime], ClaimOutcome | str]


class StoreDecidingWith(IdempotencyStore):
    """The claim-first store with the learner's decision rule in place of `decide_claim`."""

    def __init__(self, engine: Engine, decide: Decide, clock: ManualClock | None = None) -> None:
        super().__init__(engine, clock=clock or ManualClock())
        self._learner_decide = decide

    def decide(self, row: Any, fp: str, now: datetime) -> ClaimOutcome:
        return self._learner_decide(row, fp, now)  # type: ignore[return-value]  # checked by the store


@exercise("decide_claim",
          concept="the stored row and the clock decide everything: think about which facts about the row make the "
                  "others irrelevant, and test those first",
          outline="check in this order: past expires_at -> 'new'; other fingerprint -> 'mismatch'; "
          "completed -> 'completed'; lease still valid -> 'in_flight'; else 'takeover'")
def check_decide_claim(decide: Decide) -> Iterator[tuple[str, bool]]:
    engine = backends.sql().engine
    reset(engine)
    clock = ManualClock()
    store = StoreDecidingWith(engine, decide, clock)
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
        with crash_at(AFTER_EXTERNAL_CALL):
            create_charge(store, crash_req)
    except SimulatedCrash:
        pass
    during = endpoint(crash_req)
    yield f"retry while the crashed worker's lease is valid: 409 (got {during.status})", during.status == 409
    clock.advance(store.lease.total_seconds() + 1)
    after = endpoint(crash_req)
    again = concurrent_retries(engine, endpoint, crash_req, callers=1)
    yield f"retry after the lease expired: 201 (got {after.status})", after.status == 201
    yield f"the crashed request charged exactly once (got {again.executions})", again.executions == 1
