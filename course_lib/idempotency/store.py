"""The claim-first idempotency store: claim the key, then work, then record the response.

The order of operations is the whole fix. A request first *claims* its (scope, key) with an
INSERT that only one request can win (the unique index decides, not a prior SELECT). Everyone
else reads the claim and answers from it:

    same key, different payload   -> 422 (the key was reused for another operation)
    claim held, lease still valid -> 409 + Retry-After (the first attempt is still running)
    claim completed               -> the stored response, byte for byte (200, marked as a replay)
    claim held, lease expired     -> taken over (the holder crashed): do the work again, safely,
                                     because the work itself carries the key (charges.record_charge)

The work comes in two parts (an `Operation`): the *external* call (a payment provider), made
outside any transaction and carrying the key so the provider can deduplicate it; then the *record*
step, whose database writes commit in the same transaction that stores the response. So there are
three phases, each short (brandur's "atomic phases"): claim; call out; record + complete. A crash
can no longer fall between "the charge row exists" and "the response is stored".
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from .. import race
from ..backends.sql_backend import insert_ignore
from ..clock import utc_now
from ..faults import SimulatedCrash
from .keys import HEADER, fingerprint, key_problem
from .messages import REPLAY_HEADER, Request, Response, problem
from .operation import Operation
from .schema import idempotency_keys as keys_table

Clock = Callable[[], datetime]
# How long a claim protects an attempt before another may take over. Longer than the slowest
# normal attempt (else live workers get taken over), short enough that a crashed worker's client
# can retry within a minute.
DEFAULT_LEASE = timedelta(seconds=30)
# How long a completed response can be replayed. Stripe keeps keys 24 h; Powertools defaults to 1 h.
DEFAULT_RETENTION = timedelta(hours=24)
# InnoDB may pick a claim transaction as a deadlock victim under heavy contention; a retry of the
# whole short transaction is the documented remedy.
DEADLOCK_RETRIES = 5
MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT = 1213, 1205
OUTCOMES = frozenset({"new", "mismatch", "completed", "in_flight", "takeover"})


def decide_claim(row: Any, fp: str, now: datetime) -> str:
    """What an existing key record means for a new request with fingerprint `fp` at `now`.

    Returns "new" (record is past retention), "mismatch", "completed", "in_flight" or "takeover".
    The order matters: a different payload is rejected even while the first is in flight.
    """
    if row.expires_at <= now:
        return "new"
    if row.fingerprint != fp:
        return "mismatch"
    if row.status == "completed":
        return "completed"
    if row.locked_until > now:
        return "in_flight"
    return "takeover"


class _DoNotStore(Exception):  # noqa: N818  (control flow: roll the record phase back)
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: new | takeover (proceed) or mismatch | in_flight | completed (answer)."""

    outcome: str
    record_id: int | None = None
    stored: Response | None = None
    retry_after_s: int = 0


def _transaction(engine: Engine, fn: Callable[[Connection], Any]) -> Any:
    """Run fn in one transaction, retrying it when MySQL picks it as a deadlock victim."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            with engine.begin() as conn:
                return fn(conn)
        except OperationalError as exc:
            code = getattr(exc.orig, "args", [None])[0]
            if code not in (MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT) or attempt == DEADLOCK_RETRIES - 1:
                raise
            time.sleep(0.001 * 2**attempt)
    raise AssertionError("unreachable")


def _stored_response(row: Any) -> Response:
    return Response(row.response_status, bytes(row.response_body), json.loads(row.response_headers or "{}"))


def replay_response(stored: Response) -> Response:
    """The stored response, body byte for byte; 200 instead of 201, marked as a replay."""
    status = 200 if stored.status == 201 else stored.status
    return Response(status, stored.body, {**stored.headers, REPLAY_HEADER: "true"})


class IdempotencyStore:
    """Claim-first idempotency keys on SQL. `handle()` wraps any work function."""

    def __init__(self, engine: Engine, lease: timedelta = DEFAULT_LEASE,
                 retention: timedelta = DEFAULT_RETENTION, clock: Clock = utc_now,
                 decide: Callable[[Any, str, datetime], str] = decide_claim) -> None:
        self.engine, self.lease, self.retention, self.clock = engine, lease, retention, clock
        self.decide = decide  # pluggable so the exercise can run a learner's version through the race

    def claim_key(self, scope: str, key: str, fp: str) -> Claim:
        """Claim (scope, key) for this request, or say why not. Two short transactions at most."""
        now = self.clock()
        fresh = {"scope": scope, "idem_key": key, "fingerprint": fp, "status": "in_progress",
                 "locked_until": now + self.lease, "created_at": now, "expires_at": now + self.retention}

        def insert(conn: Connection) -> int | None:
            # INSERT IGNORE: the unique (scope, idem_key) index picks exactly one winner; the
            # losers get "0 rows affected" instead of an error, and no gap locks from a SELECT.
            result = conn.execute(insert_ignore(keys_table, fresh, self.engine.dialect.name))
            return result.lastrowid if result.rowcount == 1 else None

        record_id = _transaction(self.engine, insert)
        if record_id is not None:
            return Claim("new", record_id)
        return _transaction(self.engine, lambda conn: self._inspect(conn, scope, key, fp, now, fresh))

    def _id(self, conn: Connection, scope: str, key: str) -> int:
        return conn.execute(sa.select(keys_table.c.id).where(keys_table.c.scope == scope,
                                                             keys_table.c.idem_key == key)).scalar_one()

    def _inspect(self, conn: Connection, scope: str, key: str, fp: str, now: datetime, fresh: dict) -> Claim:
        row = conn.execute(sa.select(keys_table).where(keys_table.c.scope == scope, keys_table.c.idem_key == key)
                           .with_for_update()).first()
        if row is None:  # purged between our insert attempt and this read
            conn.execute(sa.insert(keys_table).values(fresh))
            return Claim("new", self._id(conn, scope, key))
        outcome = self.decide(row, fp, now)
        if outcome not in OUTCOMES:
            raise ValueError(f"decide() returned {outcome!r}; expected one of {sorted(OUTCOMES)}")
        if outcome == "new":  # past retention: the old record no longer protects anything
            conn.execute(sa.update(keys_table).where(keys_table.c.id == row.id)
                         .values(**fresh, response_status=None, response_headers=None, response_body=None))
        elif outcome == "takeover":  # the holder's lease ran out: it crashed or stalled
            conn.execute(sa.update(keys_table).where(keys_table.c.id == row.id).values(locked_until=now + self.lease))
        elif outcome == "completed":
            return Claim(outcome, row.id, stored=_stored_response(row))
        elif outcome == "in_flight":
            return Claim(outcome, row.id, retry_after_s=max(1, math.ceil((row.locked_until - now).total_seconds())))
        return Claim(outcome, row.id)

    def record_and_complete(self, record_id: int, request: Request, operation: Operation, external: Any) -> Response:
        """Phase 3: the operation's writes and the stored response, in one transaction.

        If another holder completed first (we were a slow worker whose lease was taken over), our
        record step found its rows instead of adding ours, and we answer what it stored.
        """

        def record(conn: Connection) -> Response:
            response = operation.record(conn, request, request.user, request.header(HEADER), external)
            if response.status >= 500:  # a server error is not an answer worth replaying: undo
                raise _DoNotStore(response)
            done = conn.execute(
                sa.update(keys_table)
                .where(keys_table.c.id == record_id, keys_table.c.status == "in_progress")
                .values(status="completed", locked_until=None, response_status=response.status,
                        response_headers=json.dumps(response.headers, sort_keys=True),
                        response_body=response.body)
            ).rowcount
            if done:
                return response
            race.note("completed by another holder")
            row = conn.execute(sa.select(keys_table).where(keys_table.c.id == record_id)).one()
            return _stored_response(row)

        return _transaction(self.engine, record)

    def release(self, record_id: int) -> None:
        """Forget an in-progress claim whose work failed, so the client's retry can run it afresh."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(keys_table).where(keys_table.c.id == record_id,
                                                     keys_table.c.status == "in_progress"))

    def handle(self, request: Request, operation: Operation, crash: str | None = None) -> Response:
        """Run `operation` at most once per (user, Idempotency-Key); answer per the IETF draft."""
        key = request.header(HEADER)
        if bad := key_problem(key):
            return bad
        claim = self.claim_key(request.user, key, fingerprint(request.method, request.path, request.body))
        race.point(f"claim: {claim.outcome}")
        if claim.outcome == "mismatch":
            return problem(422, "Idempotency-Key reused",
                           "this key was already used with a different request; use a new key for a new operation")
        if claim.outcome == "in_flight":
            return problem(409, "Request in progress",
                           f"a request with this key is still being processed; retry in {claim.retry_after_s} s",
                           {"Retry-After": str(claim.retry_after_s)})
        if claim.outcome == "completed":
            return replay_response(claim.stored)
        if crash == "after_claim":
            raise SimulatedCrash("crashed after claiming, before the work")
        try:
            external = operation.external(request, request.user, key)
            race.point("after_external_call")
            if crash == "after_work":
                raise SimulatedCrash("crashed after the provider call, before recording it")
            return self.record_and_complete(claim.record_id, request, operation, external)
        except SimulatedCrash:
            raise  # a dead process releases nothing: its claim stays until the lease runs out
        except _DoNotStore as failed:
            self.release(claim.record_id)
            return failed.response
        except Exception:
            self.release(claim.record_id)  # nothing was recorded: let the client's retry run it afresh
            raise

    def purge_expired(self, batch_size: int = 1000) -> int:
        """Delete expired records in batches (short transactions, no long lock on the table)."""
        total = 0
        while True:
            with self.engine.begin() as conn:
                ids = conn.execute(sa.select(keys_table.c.id).where(keys_table.c.expires_at <= self.clock())
                                   .order_by(keys_table.c.expires_at).limit(batch_size)).scalars().all()
                if ids:
                    conn.execute(sa.delete(keys_table).where(keys_table.c.id.in_(ids)))
            total += len(ids)
            if len(ids) < batch_size:
                return total
