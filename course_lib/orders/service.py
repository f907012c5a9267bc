"""Idempotent create-order: a Redis lock in front, the claim-first store behind, the order upserted.

POST /api/orders with an Idempotency-Key answers 201 with the order the first time and 200 with
the identical body on every retry. Three guards, each for a different failure:

1. The Redis lock per (user, key) turns concurrent duplicates away early (409), before the claim.
   Its lease is shorter than the claim's, so a crashed holder's lock is gone before its claim can be
   taken over. If Redis is down the request goes on without it: the lock saves work, it does not
   provide correctness (and costs two Redis round trips per request: `redis_lock=False` leaves it out).
2. The claim-first store (notebook 01) decides who works: one claim per (user, key), a fingerprint
   for "same request", a lease for crashed workers, the stored response for replays.
3. The order is written with an upsert on the unique (user_id, idem_key), in the same transaction
   that stores the response and completes the key (brandur's atomic phases: claim, then order +
   response). A worker that dies after its claim and before that transaction commits leaves a
   claim and nothing else; the retry that takes it over writes the order. If the first holder was
   slow rather than dead and commits too, the upsert finds its order instead of adding one: neither
   a lost lock nor an expired lease can make a second order.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import redis
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from course_lib import failpoints
from course_lib.backends.sql_backend import insert_or_keep, reader
from course_lib.failpoints import SimulatedCrash
from course_lib.idempotency.keys import HEADER, KeyRejected, fingerprint, hash_for_logs, parse_key
from course_lib.idempotency.operation import Operation
from course_lib.idempotency.problems import KEY_REUSED
from course_lib.idempotency.store import IdempotencyStore, in_progress
from course_lib.messages import Request, Response, json_response, problem
from course_lib.orders.locks import RedisLock
from course_lib.orders.models import OrderIn
from course_lib.orders.schema import orders

PATH = "/api/orders"
# The claim's lease: longer than the slowest normal create-order (tens of ms, seconds under a
# 64-client benchmark on 2 cores), short enough that a client retrying after a crash succeeds
# within a minute.
DEFAULT_CLAIM_LEASE = timedelta(seconds=30)
# The lock's lease: shorter than the claim's, so the lock of a crashed worker has expired by the
# time its claim can be taken over, and a retry is never turned away by a dead worker's lock alone.
DEFAULT_LOCK_LEASE_MS = 10_000
MAX_PAGE = 100

Clock = Callable[[], datetime]
# Failpoints (course_lib.failpoints): where a lesson or the benchmark pauses or crashes a create-order.
# LOCKED is reached with the lock's state as detail ("lock: acquired"); ORDER_UPSERTED inside the
# transaction that writes the order and stores the response, before it commits (a crash there writes
# nothing). A crash after the claim and before that transaction is armed at the store's
# AFTER_EXTERNAL_CALL (the order has no external call, so that point is right after the claim).
LOCKED, ORDER_UPSERTED = "lock", "order upserted"


class LockState(StrEnum):
    """How the Redis lock in front of the claim went, as the request log records it."""

    ACQUIRED = "acquired"
    BUSY = "busy"  # another request with this key holds it: 409
    UNAVAILABLE = "unavailable"  # Redis down or restarting: carry on, the claim still guards
    NOT_NEEDED = "not_needed"  # the request was rejected before locking
    OFF = "off"  # the service runs without the lock (`redis_lock=False`): the claim alone guards


def check_leases(claim_lease: timedelta, lock_lease_ms: int) -> None:
    """ValueError unless 0 < lock lease < claim lease (see DEFAULT_LOCK_LEASE_MS for why)."""
    if lock_lease_ms <= 0 or lock_lease_ms >= claim_lease.total_seconds() * 1000:
        raise ValueError(f"the lock's lease ({lock_lease_ms} ms) must be positive and shorter than the claim's "
                         f"({claim_lease.total_seconds() * 1000:.0f} ms), or a crashed worker's lock outlives "
                         "its claim and turns away the retry that should take over")


class WorkerCrashed(SimulatedCrash):
    """A create-order died mid-request (an armed failpoint); `key_hash` lets its log line be matched
    to the retries that follow it."""

    def __init__(self, key_hash: str) -> None:
        super().__init__(f"the worker died holding key {key_hash}")
        self.key_hash = key_hash


@dataclass(frozen=True)
class OrderOutcome:
    """The HTTP answer plus what the request log records about how it was reached."""

    response: Response
    lock: LockState
    key_hash: str | None

    @property
    def replayed(self) -> bool:
        return self.response.replayed


# What the database decides about a new order (the rest is the request's): returned by the upsert, or
# read under a lock when the database has no RETURNING. Both built once.
_STORED = (orders.c.id, orders.c.status, orders.c.created_at, orders.c.request_fingerprint)
_READ_STORED = sa.select(*_STORED).where(orders.c.user_id == sa.bindparam("user_id"),
                                         orders.c.idem_key == sa.bindparam("idem_key")).with_for_update(read=True)


def order_body(row: Any) -> dict[str, Any]:
    return {"id": row.id, "user_id": row.user_id, "status": row.status, "currency": row.currency,
            "total_cents": row.total_cents, "items": json.loads(row.items),
            "created_at": row.created_at.isoformat() + "Z"}


def _validation_problem(exc: ValidationError) -> Response:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return problem(422, "Invalid order", f"{where}: {first['msg']}; a valid order looks like "
                   '{"currency": "EUR", "items": [{"sku": "BOOK-DDIA", "quantity": 1, "unit_price_cents": 4200}]}')


class OrderService:
    """Create, read and list orders for authenticated users (the API's logic, callable in-process)."""

    def __init__(self, engine: Engine, redis_client: redis.Redis, claim_lease: timedelta = DEFAULT_CLAIM_LEASE,
                 lock_lease_ms: int = DEFAULT_LOCK_LEASE_MS, clock: Clock | None = None,
                 redis_lock: bool = True) -> None:
        """`clock=None`: leases are judged on the database's clock (a lesson may pass a ManualClock).
        `redis_lock=False` leaves the lock out: every guarantee is the claim's and the upsert's, and the two
        Redis round trips per request are saved (`course bench guards` measures what they cost)."""
        check_leases(claim_lease, lock_lease_ms)
        self.engine, self.redis, self.lock_lease_ms = engine, redis_client, lock_lease_ms
        self.redis_lock = redis_lock
        self.store = IdempotencyStore(engine, lease=claim_lease, clock=clock)
        self._upsert: Any = None  # built on first use, when the connection says whether it has RETURNING

    # -- create ------------------------------------------------------------------------------

    def create(self, user_id: int, key_field: str | None, body: bytes, key_lines: int = 1,
               conn: Connection | None = None, order: OrderIn | None = None) -> OrderOutcome:
        """POST /api/orders for `user_id`, given the Idempotency-Key field as sent (`key_lines`: on how many
        field lines): the lock, then the claim-first store around the order upsert, on `conn` when the
        caller holds one (the API: the connection its token check ran on). `order` is `body` already
        validated by the caller (the API's request parsing); else it is validated here. A SimulatedCrash
        (a failpoint armed by a lesson or the benchmark) propagates and releases nothing."""
        try:
            key = parse_key(key_field, key_lines)
        except KeyRejected as rejected:
            return OrderOutcome(rejected.response, LockState.NOT_NEEDED, None)
        scope, key_hash = str(user_id), hash_for_logs(str(user_id), key)
        try:
            order = order if order is not None else OrderIn.model_validate_json(body)
        except ValidationError as exc:
            return OrderOutcome(_validation_problem(exc), LockState.NOT_NEEDED, key_hash)
        lock = RedisLock(self.redis, f"lock:orders:{key_hash}", self.lock_lease_ms)
        lease, lock_state = self._acquire(lock)
        failpoints.point(LOCKED, lock_state.value)
        if lock_state == LockState.BUSY:  # Retry-After: what is left of the holder's claim, as the store says
            return OrderOutcome(in_progress(self.store.lease_remaining_s(scope, key, conn)), lock_state, key_hash)
        request = Request(scope, "POST", PATH, body, {HEADER: key_field or ""})
        try:
            # All its work is in the database (no external call); the order validated once, above.
            operation = Operation(external=None, record=functools.partial(self._write_order, order))
            response = self.store.handle_key(request, key, operation, conn)
        except SimulatedCrash as died:  # a dead worker releases nothing: its lock and its claim run out
            raise WorkerCrashed(key_hash) from died
        except BaseException:
            self._release(lock, lease)
            raise
        self._release(lock, lease)
        return OrderOutcome(response, lock_state, key_hash)

    def _acquire(self, lock: RedisLock) -> tuple[Any, LockState]:
        if not self.redis_lock:
            return None, LockState.OFF
        try:
            lease = lock.acquire()
        except redis.RedisError:  # Redis down or restarting: carry on, the claim below still guards
            return None, LockState.UNAVAILABLE
        return lease, LockState.ACQUIRED if lease else LockState.BUSY

    @staticmethod
    def _release(lock: RedisLock, lease: Any) -> None:
        if lease is None:
            return
        try:
            if not lock.release(lease):
                failpoints.note("stale lock: lease expired before release")
        except redis.RedisError:
            pass  # Redis went away: the lease expires by itself

    def _upsert_order(self, conn: Connection) -> Any:
        """The order's upsert, built once with bound values (SQLAlchemy then reuses its compiled form and cache
        key), with RETURNING where the database has it (MariaDB 10.5+, SQLite 3.35+; not MySQL)."""
        if self._upsert is None:
            bound: dict[str, Any] = {name: sa.bindparam(name) for name in (
                "user_id", "idem_key", "currency", "total_cents", "items", "request_fingerprint")}
            created_at = sa.func.utc_timestamp(6) if self.store.times_in_sql else sa.bindparam("created_at")
            upsert = insert_or_keep(orders, {**bound, "status": "created", "created_at": created_at},
                                    ["user_id", "idem_key"], conn.dialect.name)
            self._upsert = upsert.returning(*_STORED) if conn.dialect.insert_returning else upsert
        return self._upsert

    def _write_order(self, order: OrderIn, conn: Connection, request: Request, scope: str, key: str,
                     _external: Any) -> Response:
        """The work, inside the transaction that then stores the response and completes the key: upsert the
        order, take it as committed (ours, or a slow earlier holder's), answer 201.

        The order keeps the fingerprint of the request that created it, so a key reused with another
        payload after its record expired is still refused (422) instead of answering with someone
        else's order. Where the database has INSERT ... RETURNING (MariaDB 10.5+, SQLite 3.35+) the row
        comes back with the statement; otherwise a locking read fetches it, which sees the latest
        committed order whatever this transaction's snapshot is (REPEATABLE READ).
        """
        items = [item.model_dump() for item in order.items]
        values = {"user_id": int(scope), "idem_key": key, "currency": order.currency,
                  "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
                  "items": json.dumps(items, separators=(",", ":")),
                  "request_fingerprint": fingerprint(request.method, request.path, request.body)}
        if not self.store.times_in_sql:  # else the statement reads the database's clock itself
            values["created_at"] = self.store.now(conn)  # the clock the claim's lease is judged by
        result = conn.execute(self._upsert_order(conn), values)
        # The row as it stands after the statement: ours, or (MariaDB's upsert) the order already there, read
        # under the lock the upsert took. SQLite returns nothing on a conflict: then the locking read below.
        row = result.first() if conn.dialect.insert_returning else None
        failpoints.point(ORDER_UPSERTED)
        if row is None:
            row = conn.execute(_READ_STORED, {"user_id": int(scope), "idem_key": key}).one()
        if row.request_fingerprint != values["request_fingerprint"]:
            return KEY_REUSED.response("an order was already created with this key and a different request; use "
                                       "a new key for a new order")
        # Same fingerprint, same body: the stored currency and items are the ones just sent (a slow earlier
        # holder sent these bytes too), so only what the database decided comes back from it.
        stored = SimpleNamespace(**{**values, **row._mapping})
        return json_response(201, order_body(stored), {"Location": f"{PATH}/{row.id}"})

    # -- read ----------------------------------------------------------------------------------

    def get(self, user_id: int, order_id: int) -> dict[str, Any] | None:
        """The order if it exists *and belongs to user_id*; another user's order is simply not found."""
        with reader(self.engine).connect() as conn:
            row = conn.execute(sa.select(orders).where(orders.c.id == order_id, orders.c.user_id == user_id)).first()
        return order_body(row) if row else None

    def list_orders(self, user_id: int, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
        """Newest first, by keyset: `WHERE id < :last_seen ORDER BY id DESC` stays fast at any depth
        and never skips or repeats a row when orders arrive between pages (OFFSET does both)."""
        limit = max(1, min(limit, MAX_PAGE))
        query = sa.select(orders).where(orders.c.user_id == user_id)
        if cursor is not None:
            query = query.where(orders.c.id < decode_cursor(cursor))
        with reader(self.engine).connect() as conn:
            rows = conn.execute(query.order_by(orders.c.id.desc()).limit(limit + 1)).all()
        page = rows[:limit]
        more = len(rows) > limit
        return {"data": [order_body(r) for r in page], "next_cursor": encode_cursor(page[-1].id) if more else None}


def orders_with_key(engine: Engine, user_id: int, key: str) -> int:
    """How many orders `user_id` has under Idempotency-Key `key`: the lesson's "exactly one" check."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(orders)
                            .where(orders.c.user_id == user_id, orders.c.idem_key == key)).scalar_one()


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before_id": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor points before; ValueError with a clear message for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        before = json.loads(raw)["before_id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("cursor is not one this API issued; pass next_cursor from the previous page unchanged") \
            from exc
    if not isinstance(before, int) or isinstance(before, bool) or not 0 < before < 2**63:
        raise ValueError("cursor is not one this API issued; pass next_cursor from the previous page unchanged")
    return before
