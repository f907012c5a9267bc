"""Exercises for notebook 01: the decision at the heart of the claim step, the claim statement itself, and
what the claim is without its unique index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib import backends
from course_lib.clock import ManualClock
from course_lib.failpoints import SimulatedCrash, crash_at
from course_lib.idempotency import create_charge, reset
from course_lib.idempotency.store import AFTER_EXTERNAL_CALL, ClaimOutcome, IdempotencyStore
from course_lib.lab import race
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


# Exercises 2 and 3 work on a table of their own: just the claim, no payloads, so the statement is the lesson.
claims = sa.Table("exercise_claims", sa.MetaData(),
                  sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                  sa.Column("scope", sa.String(64), nullable=False),
                  sa.Column("idem_key", sa.String(255), nullable=False),
                  sa.Column("holder", sa.String(64), nullable=False),
                  sa.UniqueConstraint("scope", "idem_key", name="uq_exercise_claim"))
CLAIMERS = 16

ClaimSql = Callable[[str], str]
DropGuard = Callable[[str], str]


def fresh_claims(engine: Engine) -> None:
    """The exercise table as the lesson built it: unique on (scope, key)."""
    claims.drop(engine, checkfirst=True)
    claims.create(engine)


def claim_race(engine: Engine, sql: str, key: str, callers: int = CLAIMERS) -> tuple[list[int], list[str]]:
    """`callers` callers released together by the lesson's race harness, each running `sql` once for the
    same key: the rows each one's statement inserted (in caller order), and the errors raised instead (a
    taken key should not be one)."""

    def claim(caller: race.Caller) -> int:
        with engine.begin() as conn:
            return conn.execute(sa.text(sql), {"scope": "user:1", "key": key, "holder": caller.name}).rowcount

    result = race.run(claim, callers=callers)
    return ([result.results.get(name, 0) for name in result.callers],
            [type(getattr(exc, "orig", exc)).__name__ for exc in result.errors.values()])


def _rows(engine: Engine, key: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(claims.c.holder).where(claims.c.idem_key == key)).scalars())


@exercise("claim_sql",
          concept="let the unique index decide: an INSERT that a duplicate turns into 'nothing happened' (not an "
                  "error, not an update) tells each caller whether it won by the rows it inserted",
          outline="MySQL/MariaDB: INSERT IGNORE INTO exercise_claims (scope, idem_key, holder) VALUES (:scope, :key, "
                  ":holder); SQLite spells it INSERT OR IGNORE; rowcount 1 = claimed, 0 = someone else holds it")
def check_claim_sql(claim_sql: ClaimSql) -> Iterator[tuple[str, bool]]:
    engine = backends.sql().engine
    fresh_claims(engine)
    sql = claim_sql(engine.dialect.name)
    inserted, errors = claim_race(engine, sql, "same-key")
    yield f"{CLAIMERS} callers at once, one key: exactly one inserted a row (got {sum(inserted)})", sum(inserted) == 1
    yield (f"the losers learn it from the row count, not from an error (got {len(errors)} errors"
           f"{': ' + errors[0] if errors else ''})"), not errors
    holders = _rows(engine, "same-key")
    winner = race.caller_names(CLAIMERS)[inserted.index(1)] if 1 in inserted else None
    yield f"the row holds the winner's name, not a later caller's (got {holders})", holders == [winner]
    others = [claim_race(engine, sql, f"key-{n}", callers=1)[0][0] for n in range(3)]
    yield f"three different keys: each claimed (got {others})", others == [1, 1, 1]


@exercise("drop_guard",
          concept="the claim is only as good as the constraint behind it: remove the unique index and see what "
                  "the same INSERT does under the same race",
          outline="MySQL/MariaDB: ALTER TABLE exercise_claims DROP INDEX uq_exercise_claim; SQLite keeps a named "
                  "UNIQUE constraint in the table itself, so rebuild the table without it (or create it anew)")
def check_drop_guard(drop_guard: DropGuard) -> Iterator[tuple[str, bool]]:
    engine = backends.sql().engine
    fresh_claims(engine)
    with engine.begin() as conn:
        for statement in filter(str.strip, drop_guard(engine.dialect.name).split(";")):
            conn.execute(sa.text(statement))
    from course_lib.lab.solutions.idempotency import claim_sql  # the claim that holds with the index

    inserted, _ = claim_race(engine, claim_sql(engine.dialect.name), "same-key")
    yield f"without the index the same claim lets several callers win (got {sum(inserted)} of {CLAIMERS})", (
        sum(inserted) > 1)
    yield "and they all think they hold the key: duplicate rows for one key", len(_rows(engine, "same-key")) > 1
    fresh_claims(engine)  # the guard back, for whatever runs next
