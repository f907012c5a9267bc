"""The idempotency lesson's code: key validation, the seed flaws, and the claim-first store's contract.

Most tests run on both SQL backends: the embedded SQLite file and, when reachable, the real MariaDB.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from course_lib import failpoints
from course_lib.clock import ManualClock
from course_lib.idempotency import (
    SEED_HEADER,
    IdempotencyStore,
    Operation,
    SimulatedCrash,
    create_charge,
    executions,
    fingerprint,
    key_problem,
    parse_key,
    reset,
    seed_create_charge,
)
from course_lib.idempotency.charges import record_charge
from course_lib.idempotency.schema import idempotency_keys, row_count
from course_lib.idempotency.seed import AFTER_WORK
from course_lib.idempotency.store import AFTER_EXTERNAL_CALL, CLAIMED
from course_lib.lab import race
from course_lib.lab.exercises.idempotency import StoreDecidingWith
from course_lib.lab.scenarios.idempotency import charge_request, concurrent_retries, stress
from course_lib.messages import Response

FAST = 0.001  # provider latency for tests: still a gap between check and write, but quick


@pytest.fixture
def engine(sql_engine):
    reset(sql_engine)
    return sql_engine


def endpoint(store):
    return lambda req: create_charge(store, req, provider_latency_s=FAST)


# --- keys and fingerprints -----------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "x" * 256, "tab\there", "clé"])
def test_malformed_keys_are_400_problems(key):
    answer = key_problem(key)
    assert answer.status == 400 and answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body)["detail"]


@pytest.mark.parametrize("key", ["a", "x" * 255, "550e8400-e29b-41d4-a716-446655440000", '"order 12 ~ retry"',
                                 '"' + "x" * 255 + '"'])
def test_well_formed_keys_pass(key):
    assert key_problem(key) is None


@pytest.mark.parametrize(("field", "key"), [('"K"', "K"), ("K", "K"), ('"a b"', "a b"), ('"q\\"x"', 'q"x'),
                                            ('"k";p=1', "k"), ('  "k"  ', "k")])
def test_a_string_and_its_unquoted_spelling_are_the_same_key(field, key):
    assert parse_key(field) == key


def test_fingerprint_ignores_json_formatting_but_not_meaning():
    a = fingerprint("POST", "/charges", b'{"amount": 1, "currency": "EUR"}')
    assert a == fingerprint("post", "/charges", b'{"currency":"EUR","amount":1}')
    assert a != fingerprint("POST", "/charges", b'{"amount": 2, "currency": "EUR"}')
    assert a != fingerprint("POST", "/refunds", b'{"amount": 1, "currency": "EUR"}')


# --- the seed design's flaws (they must stay demonstrable) -------------------------------------------


def test_seed_design_runs_the_work_once_per_concurrent_retry(engine):
    seed = lambda req: seed_create_charge(engine, req, provider_latency_s=FAST)  # noqa: E731
    run = concurrent_retries(engine, seed, charge_request(header=SEED_HEADER), callers=3, schedule="round_robin")
    assert run.executions == 3 and run.statuses == [201, 201, 201]


def test_seed_design_crash_after_work_repeats_the_work(engine):
    req = charge_request(header=SEED_HEADER)
    with pytest.raises(SimulatedCrash), failpoints.crash_at(AFTER_WORK):
        seed_create_charge(engine, req, provider_latency_s=FAST)
    assert seed_create_charge(engine, req, provider_latency_s=FAST).status == 201
    assert executions(engine)["alice:order-1"] == 2


# --- the claim-first contract --------------------------------------------------------------------


def test_first_call_201_then_byte_identical_replays_with_200(engine):
    store = IdempotencyStore(engine)
    first = endpoint(store)(charge_request())
    again = endpoint(store)(charge_request(amount=1000))
    assert first.status == 201 and again.status == 200 and again.body == first.body and again.replayed
    assert executions(engine) == {"alice:order-1": 1}


def test_concurrent_copies_one_201_rest_409_with_retry_after(engine):
    store = IdempotencyStore(engine)
    run = concurrent_retries(engine, endpoint(store), charge_request(), callers=4, schedule="round_robin")
    assert sorted(run.statuses) == [201, 409, 409, 409] and run.executions == 1
    assert all(int(r.headers["Retry-After"]) >= 1 for r in run.responses.values() if r.status == 409)


def test_stress_exactly_once_per_key(engine):
    store = IdempotencyStore(engine)
    result = stress(engine, endpoint(store), keys=6, copies=6)
    assert set(result.executions_per_key.values()) == {1}
    assert set(result.statuses) <= {200, 201, 409}


def test_changed_payload_is_422_and_charges_nothing(engine):
    store = IdempotencyStore(engine)
    endpoint(store)(charge_request())
    answer = endpoint(store)(charge_request(amount=1))
    assert answer.status == 422 and executions(engine) == {"alice:order-1": 1}


def test_keys_are_scoped_per_user(engine):
    store = IdempotencyStore(engine)
    alice, bob = endpoint(store)(charge_request(user="alice")), endpoint(store)(charge_request(user="bob"))
    assert alice.status == bob.status == 201 and bob.json()["user"] == "bob" and alice.body != bob.body


@pytest.mark.parametrize("crash", [CLAIMED, AFTER_EXTERNAL_CALL])
def test_crash_then_409_during_lease_then_takeover_runs_work_once(engine, crash):
    clock = ManualClock()
    store = IdempotencyStore(engine, clock=clock)
    with pytest.raises(SimulatedCrash), failpoints.crash_at(crash):
        create_charge(store, charge_request(), provider_latency_s=FAST)
    assert endpoint(store)(charge_request()).status == 409
    clock.advance(store.lease.total_seconds() + 0.001)
    taken_over = endpoint(store)(charge_request())
    assert taken_over.status == 201 and executions(engine) == {"alice:order-1": 1}
    assert endpoint(store)(charge_request()).body == taken_over.body


def test_bad_input_writes_nothing(engine):
    store = IdempotencyStore(engine)
    requests = [charge_request(key=None), charge_request(key=""), charge_request(key="k" * 300),
                charge_request(amount=-5), charge_request(currency="euro")]
    requests.append(dataclasses.replace(charge_request(), body=b"{not json"))
    for req in requests:
        answer = endpoint(store)(req)
        assert answer.status == 400 and answer.headers["Content-Type"] == "application/problem+json", req
    assert row_count(engine, idempotency_keys) == 0 and executions(engine) == {}


def test_work_failure_releases_the_claim_so_a_retry_can_run(engine):
    store = IdempotencyStore(engine)

    def unreachable(req, scope, key):
        raise ConnectionError("provider unreachable")

    with pytest.raises(ConnectionError):
        store.handle(charge_request(), Operation(external=unreachable, record=record_charge))
    assert row_count(engine, idempotency_keys) == 0
    assert endpoint(store)(charge_request()).status == 201


def test_a_release_picked_as_a_deadlock_victim_is_retried(engine, monkeypatch):
    """InnoDB may roll back the release's DELETE as a deadlock victim (10 learners on one MariaDB did): the
    claim must still go, or the client's retries meet 409 until the lease ends."""
    import sqlalchemy as sa

    from course_lib.idempotency import store as store_module

    store, real_execute, victims = IdempotencyStore(engine), sa.Connection.execute, []

    def execute(conn, statement, *args, **kwargs):
        if isinstance(statement, sa.Delete) and not victims:
            victims.append(statement)
            raise sa.exc.OperationalError("DELETE", {}, Exception(store_module.MYSQL_DEADLOCK, "Deadlock found"))
        return real_execute(conn, statement, *args, **kwargs)

    def unreachable(req, scope, key):
        raise ConnectionError("provider unreachable")

    monkeypatch.setattr(sa.Connection, "execute", execute)
    with pytest.raises(ConnectionError):
        store.handle(charge_request(), Operation(external=unreachable, record=record_charge))
    assert victims and row_count(engine, idempotency_keys) == 0


def test_server_errors_are_not_stored_for_replay(engine):
    store = IdempotencyStore(engine)
    def record_then_fail(conn, req, scope, key, external):
        record_charge(conn, req, scope, key, external)
        return Response(503, b"{}")

    answer = store.handle(charge_request(), Operation(external=lambda *a: None, record=record_then_fail))
    assert answer.status == 503 and row_count(engine, idempotency_keys) == 0
    assert executions(engine) == {}, "the record phase was rolled back with the response"


def test_expired_keys_are_purged_in_batches_and_reusable(engine):
    clock = ManualClock()
    store = IdempotencyStore(engine, clock=clock)
    for i in range(7):
        endpoint(store)(charge_request(key=f"k{i}"))
    clock.advance(store.retention.total_seconds() + 1)
    assert endpoint(store)(charge_request(key="k0", amount=5)).status == 201  # past retention: a new operation
    assert store.purge_expired(batch_size=3) == 6 and row_count(engine, idempotency_keys) == 1


def test_a_bad_decide_function_is_explained(engine):
    store = StoreDecidingWith(engine, lambda row, fp, now: "maybe")
    endpoint(store)(charge_request())
    with pytest.raises(ValueError, match="decide\\(\\) returned 'maybe'"):
        endpoint(store)(charge_request())


def test_slow_holder_and_takeover_both_finish_with_one_charge_and_one_answer(engine):
    """A stalls after the provider call (a GC pause); its lease runs out; B takes over and finishes;
    then A wakes up. The charge's unique index and the guarded completion leave one charge, one body."""
    clock = ManualClock()
    store = IdempotencyStore(engine, clock=clock)

    def slow_a(_caller):
        return create_charge(store, charge_request(), provider_latency_s=FAST)

    def takeover_b(_caller):
        clock.advance(store.lease.total_seconds() + 1)
        return create_charge(store, charge_request(), provider_latency_s=FAST)

    result = race.run([slow_a, takeover_b], schedule=[("A", AFTER_EXTERNAL_CALL), ("B", race.END), ("A", race.END)])
    result.raise_first_error()
    a, b = result.results["A"], result.results["B"]
    assert ("B", "claim: takeover") in result.order()
    assert ("A", "completed by another holder") in result.order()
    assert a.status == b.status == 201 and a.body == b.body
    assert executions(engine) == {"alice:order-1": 1}


def test_a_slow_holder_whose_work_fails_cannot_release_the_new_holders_claim(engine):
    """A claims and stalls; its lease runs out; B takes over; then A's provider call fails and A releases
    "its" claim. Released by id alone, that deleted B's claim and let C run beside B (two holders, the
    409 promise broken). Released by holder token, it deletes nothing: C gets 409 while B works."""
    clock = ManualClock()
    store = IdempotencyStore(engine, clock=clock)

    def external(request, scope, key):
        if race.current().name == "A":
            race.point("provider call failing")
            raise RuntimeError("the provider timed out")
        race.point("provider call")

    operation = Operation(external=external, record=record_charge)

    def a(_caller):
        return store.handle(charge_request(), operation)

    def b(_caller):
        clock.advance(store.lease.total_seconds() + 1)
        return store.handle(charge_request(), operation)

    def c(_caller):
        return store.handle(charge_request(), operation)

    result = race.run([a, b, c], schedule=[("A", "provider call failing"), ("B", "provider call"), ("A", race.END),
                                           ("C", race.END), ("B", race.END)])
    assert isinstance(result.errors["A"], RuntimeError)
    assert result.results["C"].status == 409, "B still holds the claim: C must wait, not run beside it"
    assert result.results["B"].status == 201 and executions(engine) == {"alice:order-1": 1}
