"""Short transactions: a long one holding a row lock makes everyone else wait, then fail.

Two connections. The first updates an order and, still inside its transaction, "calls a payment
provider" (sleeps). The second wants the same row: it waits on the row lock until
innodb_lock_wait_timeout and fails with error 1205. While it waits, the server's own lock views
(sys.innodb_lock_waits) name the waiting and the blocking transaction. The fix does the slow call
outside the transaction, so the lock is held for milliseconds. MySQL/MariaDB only.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from course_lib.backends.sql_backend import short_lock_wait

# The waiter gives up after this: long enough to see it wait, short enough for a lesson cell.
LOCK_WAIT_TIMEOUT_S = 1
MYSQL_LOCK_WAIT_TIMEOUT = 1205


@dataclass
class Contention:
    holder_held_s: float
    waiter_waited_s: float
    waiter_error: str | None
    lock_waits: list[dict[str, Any]] = field(default_factory=list)


def _lock_waits(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT waiting_pid, waiting_query, blocking_pid, blocking_query, wait_age_secs, locked_table, "
            "locked_type FROM sys.innodb_lock_waits")
        return [dict(r._mapping) for r in rows]


def contend(engine: Engine, order_id: int, slow_call_s: float, inside_transaction: bool) -> Contention:
    """Holder: update the order and make a slow call, inside or outside its transaction. Waiter: update
    the same order 0.1 s later. Returns how long each took and what the lock views showed meanwhile."""
    outcome: dict[str, Any] = {}
    holding = threading.Event()

    def holder() -> None:
        start = time.perf_counter()
        with engine.connect() as conn:
            with conn.begin():
                conn.exec_driver_sql(f"UPDATE shop_orders SET status = 'paid' WHERE id = {order_id}")
                holding.set()
                if inside_transaction:
                    time.sleep(slow_call_s)  # the payment provider, called while holding the row lock
            if not inside_transaction:
                time.sleep(slow_call_s)  # the same call, after COMMIT released the lock
        outcome["held"] = time.perf_counter() - start

    def waiter() -> None:
        holding.wait()
        time.sleep(0.1)
        start = time.perf_counter()
        try:
            # The short wait holds for this block only: a pooled connection must not carry it to its next user.
            with engine.connect() as conn, conn.begin(), short_lock_wait(conn, LOCK_WAIT_TIMEOUT_S):
                conn.exec_driver_sql(f"UPDATE shop_orders SET status = 'shipped' WHERE id = {order_id}")
            outcome["error"] = None
        except OperationalError as exc:
            code, message = getattr(exc.orig, "args", (None, str(exc)))[:2]
            outcome["error"] = f"{code}: {message}"
        outcome["waited"] = time.perf_counter() - start

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    holding.wait()
    time.sleep(0.4)  # the waiter is queued by now, if it has to wait at all
    waits = _lock_waits(engine)
    for t in threads:
        t.join()
    return Contention(outcome["held"], outcome["waited"], outcome["error"], waits)
