"""Property: under any schedule of concurrent retries, crashes and lease expiries, on the real
database, the work runs exactly once per (scope, key), and every answer is the original response,
a 409, or a 422 for a changed payload."""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import failpoints
from course_lib.clock import ManualClock
from course_lib.idempotency import IdempotencyStore, SimulatedCrash, create_charge, executions, reset
from course_lib.idempotency.store import AFTER_EXTERNAL_CALL, CLAIMED
from course_lib.lab import race
from course_lib.lab.scenarios.idempotency import charge_request

KEYS = ["k0", "k1"]
AMOUNTS = [1000, 2000]  # the second is "a changed payload" when the first came first
CRASHES = [None, CLAIMED, AFTER_EXTERNAL_CALL]  # dead right after claiming, or after the provider call
attempt = st.tuples(st.sampled_from(KEYS), st.sampled_from(AMOUNTS), st.sampled_from(CRASHES))
# A round: up to 4 requests released together, then maybe the lease runs out.
rounds = st.lists(st.tuples(st.lists(attempt, min_size=1, max_size=4), st.booleans()), min_size=1, max_size=5)


def _check_answer(answer, key: str, success_bodies: dict[str, set[bytes]], amounts_seen: dict[str, set[int]]) -> None:
    """One answer of a round: a known status; a success's body is recorded; 422 only for a changed payload."""
    if answer is None:  # the attempt crashed
        return
    assert answer.status in {200, 201, 409, 422}, answer
    if answer.status in {200, 201}:
        success_bodies[key].add(answer.body)
    if answer.status == 422:
        assert len(amounts_seen[key]) > 1, "422 only for a changed payload"


@pytest.mark.services
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=rounds)
def test_exactly_once_and_only_original_answers(mariadb_engine, schedule):
    engine = mariadb_engine
    reset(engine)
    clock = ManualClock()
    store = IdempotencyStore(engine, clock=clock)
    success_bodies: dict[str, set[bytes]] = defaultdict(set)
    amounts_seen: dict[str, set[int]] = defaultdict(set)

    def send(key: str, amount: int, crash: str | None):
        try:
            with failpoints.crash_at(crash) if crash else nullcontext():
                return create_charge(store, charge_request(key=key, amount=amount), provider_latency_s=0.001)
        except SimulatedCrash:
            return None

    for attempts, lease_expires in schedule:
        for key, amount, _ in attempts:
            amounts_seen[key].add(amount)
        result = race.run([lambda _c, a=a: send(*a) for a in attempts])
        result.raise_first_error()
        for (key, _amount, _crash), name in zip(attempts, result.callers, strict=True):
            _check_answer(result.results[name], key, success_bodies, amounts_seen)
        if lease_expires:
            clock.advance(store.lease.total_seconds() + 1)
        assert all(n <= 1 for n in executions(engine).values()), executions(engine)
        assert all(len(bodies) == 1 for bodies in success_bodies.values()), "one original response per key"

    clock.advance(store.lease.total_seconds() + 1)  # let every crashed claim be taken over
    for key in amounts_seen:
        finals = [send(key, amount, None) for amount in AMOUNTS]
        done = [a for a in finals if a.status in {200, 201}]
        assert len(done) == 1 and all(a.body in success_bodies[key] or not success_bodies[key] for a in done)
    assert executions(engine) == {f"alice:{key}": 1 for key in amounts_seen}, "exactly once per key"
