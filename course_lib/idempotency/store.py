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

import functools
import json
import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from course_lib import failpoints
from course_lib.backends.columns import is_mysql
from course_lib.backends.sql_backend import database_now, database_now_column, insert_ignore, reader
from course_lib.failpoints import SimulatedCrash
from course_lib.idempotency.keys import HEADER, KeyRejected, fingerprint, parse_key
from course_lib.idempotency.operation import Operation
from course_lib.idempotency.problems import KEY_REUSED, REQUEST_IN_PROGRESS
from course_lib.idempotency.schema import idempotency_keys as keys_table
from course_lib.messages import REPLAY_HEADER, Request, Response

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
# The failpoints of a request's three phases (course_lib.failpoints): a lesson pauses or crashes a
# request at these names. CLAIMED is reached with a detail, the claim's outcome ("claim: new").
CLAIMED = "claim"
AFTER_EXTERNAL_CALL = "after_external_call"
RECORDED = "recorded"  # inside phase 3's transaction: the operation's rows written, the key not yet completed


class ClaimOutcome(StrEnum):
    """What claiming a key found. NEW and TAKEOVER proceed to the work; the others answer at once."""

    NEW = "new"  # nobody held the key, or its record was past retention
    MISMATCH = "mismatch"  # the key was used for a different request: 422
    COMPLETED = "completed"  # done before: replay the stored response
    IN_FLIGHT = "in_flight"  # another attempt holds a live lease: 409 + Retry-After
    TAKEOVER = "takeover"  # the holder's lease ran out (it crashed or stalled): do the work again


class KeyStatus(StrEnum):
    """The `status` column of a key record."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


def decide_claim(row: Any, fp: str, now: datetime) -> ClaimOutcome:
    """What an existing key record means for a new request with fingerprint `fp` at `now`.

    The order matters: a different payload is rejected even while the first is in flight.
    """
    if row.expires_at <= now:
        return ClaimOutcome.NEW
    if row.fingerprint != fp:
        return ClaimOutcome.MISMATCH
    if row.status == KeyStatus.COMPLETED:
        return ClaimOutcome.COMPLETED
    if row.locked_until > now:
        return ClaimOutcome.IN_FLIGHT
    return ClaimOutcome.TAKEOVER


class _DoNotStore(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key: new | takeover (proceed) or mismatch | in_flight | completed (answer)."""

    outcome: ClaimOutcome
    record_id: int | None = None
    stored: Response | None = None
    retry_after_s: int = 0
    holder: str | None = None  # this attempt's token in the record (NEW, TAKEOVER): only it may release


@contextmanager
def _continued(conn: Connection) -> Iterator[None]:
    """The transaction already open on `conn`, committed here (rolled back if the block fails)."""
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def _transaction(bind: Engine | Connection, fn: Callable[[Connection], Any]) -> Any:
    """Run fn in one transaction (on `bind`'s connection, or one from the engine's pool), retrying it when
    MySQL picks it as a deadlock victim. A connection with a transaction already open (the API's token
    check) has fn run in that transaction and commits it: one COMMIT, one round trip, for both."""
    for attempt in range(DEADLOCK_RETRIES):
        try:
            if isinstance(bind, Connection):
                with _continued(bind) if bind.in_transaction() else bind.begin():
                    return fn(bind)
            with bind.begin() as conn:
                return fn(conn)
        except OperationalError as exc:
            code = getattr(exc.orig, "args", [None])[0]
            if code not in (MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT) or attempt == DEADLOCK_RETRIES - 1:
                raise
            time.sleep(0.001 * 2**attempt)
    raise AssertionError("unreachable")


def _mysql_later(moment: sa.ColumnElement[Any], delta: timedelta) -> sa.ColumnElement[Any]:
    """`moment + delta` evaluated by MySQL/MariaDB (whole microseconds)."""
    return sa.func.date_add(moment, sa.text(f"INTERVAL {int(delta / timedelta(microseconds=1))} MICROSECOND"))


# Phase 3's completion, built once (bound values; their names differ from the columns they set, as
# SQLAlchemy requires in an UPDATE): only a claim still in progress is completed.
_COMPLETE = (sa.update(keys_table)
             .where(keys_table.c.id == sa.bindparam("record_id"), keys_table.c.status == KeyStatus.IN_PROGRESS.value)
             .values(status=KeyStatus.COMPLETED.value, locked_until=None, response_status=sa.bindparam("status_"),
                     response_headers=sa.bindparam("headers_"), response_body=sa.bindparam("body_")))


def _stored_response(row: Any) -> Response:
    return Response(row.response_status, bytes(row.response_body), json.loads(row.response_headers or "{}"))


def _whole_seconds(left: timedelta) -> int:
    """A lease's remaining time as Retry-After says it: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(left.total_seconds()))


def in_progress(retry_after_s: int) -> Response:
    """409: another attempt with this key holds it; Retry-After is what is left of its lease."""
    return REQUEST_IN_PROGRESS.response(
        f"a request with this key is still being processed; retry in {retry_after_s} s",
        {"Retry-After": str(retry_after_s)})


def replay_response(stored: Response) -> Response:
    """The stored response, body byte for byte; 200 instead of 201, marked as a replay."""
    status = 200 if stored.status == 201 else stored.status
    return Response(status, stored.body, {**stored.headers, REPLAY_HEADER: "true"})


class IdempotencyStore:
    """Claim-first idempotency keys on SQL. `handle()` wraps any work function."""

    def __init__(self, engine: Engine, lease: timedelta = DEFAULT_LEASE,
                 retention: timedelta = DEFAULT_RETENTION, clock: Clock | None = None) -> None:
        """`clock=None` judges leases and expiry on the database's clock (one clock for every app server);
        a lesson passes a ManualClock to move time by hand."""
        self.engine, self.lease, self.retention, self.clock = engine, lease, retention, clock

    def now(self, conn: Connection) -> datetime:
        """The time leases and expiry are judged by, read inside the transaction that uses it."""
        return self.clock() if self.clock is not None else database_now(conn)

    def _fresh(self, scope: str, key: str, fp: str, now: Any, holder: str) -> dict[str, Any]:
        """A new claim's values at `now`: a datetime, or an SQL expression (`now_for_insert`)."""
        later = _mysql_later if isinstance(now, sa.ColumnElement) else lambda moment, delta: moment + delta
        return {"scope": scope, "idem_key": key, "fingerprint": fp, "status": KeyStatus.IN_PROGRESS.value,
                "holder": holder, "locked_until": later(now, self.lease), "created_at": now,
                "expires_at": later(now, self.retention)}

    def _fresh_claim(self, conn: Connection, scope: str, key: str, fp: str, holder: str) -> dict[str, Any]:
        """A new claim's values, its timestamps evaluated by the INSERT itself where it can (`now_for_insert`)."""
        return self._fresh(scope, key, fp, self.now_for_insert(conn), holder)

    @functools.cached_property
    def times_in_sql(self) -> bool:
        """True when a claim's timestamps are computed by the statement that writes them (MySQL/MariaDB with the
        database's clock), False when they are computed here and bound (a lesson's clock, or SQLite)."""
        return self.clock is None and is_mysql(self.engine)

    @functools.cached_property
    def _insert_claim(self) -> Any:
        """The claim's INSERT IGNORE, built once with bound values: SQLAlchemy then reuses its compiled form and
        cache key instead of building both again on every request (measured in docs/benchmarks.md)."""
        times: dict[str, Any]
        if self.times_in_sql:
            now = sa.func.utc_timestamp(6)
            times = {"created_at": now, "locked_until": _mysql_later(now, self.lease),
                     "expires_at": _mysql_later(now, self.retention)}
        else:
            times = {name: sa.bindparam(name) for name in ("created_at", "locked_until", "expires_at")}
        bound: dict[str, Any] = {name: sa.bindparam(name) for name in ("scope", "idem_key", "fingerprint", "holder")}
        return insert_ignore(keys_table, {**bound, "status": KeyStatus.IN_PROGRESS.value, **times},
                             self.engine.dialect.name)

    def _claim_params(self, conn: Connection, scope: str, key: str, fp: str, holder: str) -> dict[str, Any]:
        params = {"scope": scope, "idem_key": key, "fingerprint": fp, "holder": holder}
        if self.times_in_sql:
            return params
        now = self.now(conn)
        return {**params, "created_at": now, "locked_until": now + self.lease, "expires_at": now + self.retention}

    def now_for_insert(self, conn: Connection) -> Any:
        """`now()` as a value for an INSERT: on MySQL/MariaDB with the database's clock, an SQL expression the
        statement evaluates itself (no round trip just to read the time)."""
        return sa.func.utc_timestamp(6) if self.times_in_sql else self.now(conn)

    def _read_record(self, conn: Connection, scope: str, key: str, exclusive: bool = False) -> tuple[Any, datetime]:
        """The key's record (or None), read under a shared lock (`exclusive`: to rewrite it), and the time to
        judge it by: the database's clock is read in the same SELECT as the record, one round trip for both."""
        query = self._record_query.with_for_update() if exclusive else self._record_query_shared
        row = conn.execute(query, {"scope": scope, "idem_key": key}).first()
        if self.clock is not None:
            return row, self.clock()
        return row, row.judged_at if row is not None else self.now(conn)

    @functools.cached_property
    def _record_query(self) -> Any:
        """A key's record, with the database's time beside it when leases are judged on that clock; built once."""
        columns = [] if self.clock is not None else [database_now_column(self.engine).label("judged_at")]
        # What deciding and answering read (fewer columns: less for the driver to parse on every replay).
        record = [keys_table.c[name] for name in ("id", "fingerprint", "status", "locked_until", "expires_at",
                                                   "response_status", "response_headers", "response_body")]
        return sa.select(*record, *columns).where(keys_table.c.scope == sa.bindparam("scope"),
                                                  keys_table.c.idem_key == sa.bindparam("idem_key"))

    @functools.cached_property
    def _record_query_shared(self) -> Any:
        return self._record_query.with_for_update(read=True)

    def decide(self, row: Any, fp: str, now: datetime) -> ClaimOutcome:
        """The decision rule (`decide_claim`); a method so a subclass can swap it (the lesson's exercise)."""
        return decide_claim(row, fp, now)

    def _decided(self, row: Any, fp: str, now: datetime) -> ClaimOutcome:
        decided = self.decide(row, fp, now)
        try:
            return ClaimOutcome(decided)
        except ValueError:
            raise ValueError(f"decide() returned {decided!r}; expected one of {[o.value for o in ClaimOutcome]}"
                             ) from None

    def claim_key(self, scope: str, key: str, fp: str, bind: Engine | Connection | None = None) -> Claim:
        """Claim (scope, key) for this request, or say why not.

        One short transaction answers almost every request: the INSERT wins (new key), or it loses and
        a shared-lock read of the winner's record decides a replay, a reused key or an attempt in
        flight (a locking read sees the latest committed record, even in a transaction whose snapshot
        is older: one the caller opened before, as the API's token check does). None of those changes
        the record. Only a takeover or a record past retention rewrites it, in a second transaction
        that reads it under an exclusive lock first.
        """
        holder = secrets.token_hex(16)

        def insert_or_read(conn: Connection) -> Claim | None:
            # INSERT IGNORE: the unique (scope, idem_key) index picks exactly one winner; the
            # losers get "0 rows affected" instead of an error, and no gap locks from a SELECT.
            result = conn.execute(self._insert_claim, self._claim_params(conn, scope, key, fp, holder))
            if result.rowcount == 1:
                return Claim(ClaimOutcome.NEW, result.lastrowid, holder=holder)
            row, now = self._read_record(conn, scope, key)
            if row is None:  # purged since the INSERT looked: claim it under a lock
                return None
            return self._answer(row, self._decided(row, fp, now), now)

        bind = bind or self.engine
        claim = _transaction(bind, insert_or_read)
        return claim or _transaction(bind, lambda conn: self._inspect(conn, scope, key, fp, holder))

    @staticmethod
    def _answer(row: Any, outcome: ClaimOutcome, now: datetime) -> Claim | None:
        """The claim for an outcome that leaves the record as it is; None for one that rewrites it."""
        if outcome == ClaimOutcome.COMPLETED:
            return Claim(outcome, row.id, stored=_stored_response(row))
        if outcome == ClaimOutcome.IN_FLIGHT:
            return Claim(outcome, row.id, retry_after_s=_whole_seconds(row.locked_until - now))
        if outcome == ClaimOutcome.MISMATCH:
            return Claim(outcome, row.id)
        return None

    def _id(self, conn: Connection, scope: str, key: str) -> int:
        return conn.execute(sa.select(keys_table.c.id).where(keys_table.c.scope == scope,
                                                             keys_table.c.idem_key == key)).scalar_one()

    def _inspect(self, conn: Connection, scope: str, key: str, fp: str, holder: str) -> Claim:
        """Read the record under a lock and decide again: the takeover and retention paths rewrite it."""
        row, now = self._read_record(conn, scope, key, exclusive=True)
        if row is None:  # purged between our insert attempt and this read
            conn.execute(sa.insert(keys_table).values(self._fresh_claim(conn, scope, key, fp, holder)))
            return Claim(ClaimOutcome.NEW, self._id(conn, scope, key), holder=holder)
        outcome = self._decided(row, fp, now)
        if outcome == ClaimOutcome.NEW:  # past retention: the old record no longer protects anything
            conn.execute(sa.update(keys_table).where(keys_table.c.id == row.id)
                         .values(**self._fresh(scope, key, fp, now, holder), response_status=None,
                                 response_headers=None, response_body=None))
        elif outcome == ClaimOutcome.TAKEOVER:  # the holder's lease ran out: it crashed or stalled
            conn.execute(sa.update(keys_table).where(keys_table.c.id == row.id)
                         .values(locked_until=now + self.lease, holder=holder))
        return self._answer(row, outcome, now) or Claim(outcome, row.id, holder=holder)

    def record_and_complete(self, record_id: int, request: Request, key: str, operation: Operation,
                            external: Any, bind: Engine | Connection | None = None) -> Response:
        """Phase 3: the operation's writes and the stored response, in one transaction.

        If another holder completed first (we were a slow worker whose lease was taken over), our
        record step found its rows instead of adding ours, and we answer what it stored.
        """

        def record(conn: Connection) -> Response:
            response = operation.record(conn, request, request.user, key, external)
            if response.status >= 500:  # a server error is not an answer worth replaying: undo
                raise _DoNotStore(response)
            failpoints.point(RECORDED)
            done = conn.execute(_COMPLETE, {"record_id": record_id, "status_": response.status,
                                            "headers_": json.dumps(response.headers, sort_keys=True),
                                            "body_": response.body}).rowcount
            if done:
                return response
            failpoints.note("completed by another holder")
            # A locking read: it sees the other holder's committed answer even when this transaction's
            # snapshot (REPEATABLE READ, opened by the record step's first read) predates that commit.
            row = conn.execute(sa.select(keys_table).where(keys_table.c.id == record_id).with_for_update()).one()
            return _stored_response(row)

        return _transaction(bind or self.engine, record)

    def release(self, record_id: int, holder: str) -> bool:
        """Forget an in-progress claim whose work failed, so the client's retry can run it afresh; only
        the attempt that holds it may (compare-and-delete on the holder's token, as the Redis lock does).
        A slow holder whose lease was taken over deletes nothing: the new holder keeps its claim. Like
        every write here it is retried when InnoDB picks it as a deadlock victim (`course bench hub` met
        one: ten learners racing on one MariaDB)."""
        return _transaction(self.engine, lambda conn: conn.execute(sa.delete(keys_table).where(
            keys_table.c.id == record_id, keys_table.c.holder == holder,
            keys_table.c.status == KeyStatus.IN_PROGRESS)).rowcount == 1)

    def handle(self, request: Request, operation: Operation) -> Response:
        """Run `operation` at most once per (user, Idempotency-Key); answer per the IETF draft.

        Phase 1 claims the key (its own transaction); phase 2 makes the external call, outside any
        transaction; phase 3 records and completes in one transaction. A SimulatedCrash (a failpoint
        armed by a lesson) propagates without releasing anything, as a killed process would.
        """
        try:
            key = parse_key(request.header(HEADER))
        except KeyRejected as rejected:
            return rejected.response
        return self.handle_key(request, key, operation)

    def handle_key(self, request: Request, key: str, operation: Operation, conn: Connection | None = None
                   ) -> Response:
        """`handle` for a key the caller has already read from the request (`keys.parse_key`). An operation
        with no external call runs both transactions on one pooled connection: `conn` when the caller
        already holds one (a transaction the caller left open on it, the API's token lookup, is continued
        by the claim and committed with it), else one taken here."""
        if operation.external is not None:
            return self._handle_on(self.engine, request, key, operation)
        if conn is not None:
            return self._handle_on(conn, request, key, operation)
        with self.engine.connect() as own:
            return self._handle_on(own, request, key, operation)

    def _handle_on(self, bind: Engine | Connection, request: Request, key: str, operation: Operation) -> Response:
        claim = self.claim_key(request.user, key, fingerprint(request.method, request.path, request.body), bind)
        failpoints.point(CLAIMED, claim.outcome.value)
        if claim.outcome == ClaimOutcome.MISMATCH:
            return KEY_REUSED.response("this key was already used with a different request; use a new key for a "
                                       "new operation")
        if claim.outcome == ClaimOutcome.IN_FLIGHT:
            return in_progress(claim.retry_after_s)
        if claim.outcome == ClaimOutcome.COMPLETED and claim.stored is not None:
            return replay_response(claim.stored)
        assert claim.record_id is not None and claim.holder is not None  # NEW and TAKEOVER carry their record
        holder = claim.holder
        try:
            external = operation.external(request, request.user, key) if operation.external else None
            failpoints.point(AFTER_EXTERNAL_CALL)
            return self.record_and_complete(claim.record_id, request, key, operation, external, bind)
        except SimulatedCrash:
            raise  # a dead process releases nothing: its claim stays until the lease runs out
        except _DoNotStore as failed:
            self.release(claim.record_id, holder)
            return failed.response
        except Exception:
            self.release(claim.record_id, holder)  # nothing was recorded: let the client's retry run it afresh
            raise

    def lease_remaining_s(self, scope: str, key: str, conn: Connection | None = None) -> int:
        """Whole seconds until the holder's lease on (scope, key) runs out: what a 409's Retry-After says.
        Read on `conn` when the caller holds one (on SQLite another connection would wait for its write
        lock), else on a read-only connection of the pool.

        With no claim yet (its holder is between the lock and the claim) it is a whole lease: the
        bound never grows from one 409 to the next.
        """
        if conn is None:
            with reader(self.engine).connect() as own:
                return self.lease_remaining_s(scope, key, own)
        locked_until = conn.execute(sa.select(keys_table.c.locked_until).where(
            keys_table.c.scope == scope, keys_table.c.idem_key == key)).scalar_one_or_none()
        return _whole_seconds(self.lease if locked_until is None else locked_until - self.now(conn))

    def purge_expired(self, batch_size: int = 1000) -> int:
        """Delete expired records in batches (short transactions, no long lock on the table)."""
        total = 0
        while True:
            with self.engine.begin() as conn:
                ids = conn.execute(sa.select(keys_table.c.id).where(keys_table.c.expires_at <= self.now(conn))
                                   .order_by(keys_table.c.expires_at).limit(batch_size)).scalars().all()
                if ids:
                    conn.execute(sa.delete(keys_table).where(keys_table.c.id.in_(ids)))
            total += len(ids)
            if len(ids) < batch_size:
                return total
