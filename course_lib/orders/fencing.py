"""Selling stock under a Redis lock, with and without fencing tokens (notebook 02).

One item in stock, workers that sell it under a Redis lock: take the lock, read the stock, write
stock - 1, release. A worker that pauses longer than the lease (a GC pause, a stalled VM) wakes up
still believing it holds the lock, and writes a stock figure computed from a stale read.

Three ways to write (`FencingMode`):
* NONE: a plain UPDATE. The stale write lands: one sale is lost from the stock.
* WRITE: the UPDATE carries the fencing token and the row refuses tokens older than the last one
  it accepted (`UPDATE ... WHERE fence < :token`). Enough when the stale holder writes *after* the
  new holder; not when it writes first, because the row has not seen the newer token yet.
* FULL: the holder registers its token on the row when it *reads* (first access in the critical
  section), and writes only while the row still carries that token (`WHERE fence = :token`). Any
  interleaving of a stale holder is then rejected.

The scenarios that make two holders happen (`course_lib.lab.scenarios.fencing`) pause a seller at
this module's failpoints.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib import failpoints
from course_lib.backends.sql_backend import inserted_id
from course_lib.orders.locks import Lease, RedisLock, fenced_update
from course_lib.orders.schema import inventory

# Failpoints of a sale, in order. LOCKED, READ, PAUSED and WROTE carry a detail on the timeline
# ("read: 10"); a refused read or write reaches STALE_READ or STALE_WRITE instead.
LOCKED, READ, PAUSED, WROTE = "lock", "read", "paused", "wrote"
STALE_READ, STALE_WRITE = "stale read refused", "stale write refused"


class FencingMode(StrEnum):
    NONE = "none"
    WRITE = "write"
    FULL = "full"


class Sale(StrEnum):
    """How one attempt to sell went."""

    SOLD = "sold"
    REJECTED = "rejected"  # a fence refused the stale holder
    BUSY = "busy"  # someone else holds the lock


def restock(engine: Engine, quantity: int) -> int:
    """A fresh inventory row (fence 0) with `quantity` units; returns its id."""
    with engine.begin() as conn:
        return inserted_id(conn.execute(sa.insert(inventory).values(sku=f"SKU-{uuid.uuid4().hex[:12].upper()}",
                                                        quantity=quantity, fence=0)))


def stock(engine: Engine, item_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(inventory.c.quantity).where(inventory.c.id == item_id)).scalar_one()


def _fence(lease: Lease) -> int:
    if lease.fence is None:
        raise ValueError("fencing needs a FencedLock: this lease carries no fencing token")
    return lease.fence


def _read(engine: Engine, item_id: int, lease: Lease, fencing: FencingMode) -> int | None:
    """The stock as this holder sees it; under "full" fencing, None if a newer token got there first."""
    with engine.begin() as conn:
        if fencing == FencingMode.FULL and not fenced_update(conn, inventory, item_id, _fence(lease)):
            return None
        return conn.execute(sa.select(inventory.c.quantity).where(inventory.c.id == item_id)).scalar_one()


def _write(engine: Engine, item_id: int, lease: Lease, fencing: FencingMode, quantity: int) -> bool:
    with engine.begin() as conn:
        if fencing == FencingMode.NONE:
            conn.execute(sa.update(inventory).where(inventory.c.id == item_id).values(quantity=quantity))
            return True
        if fencing == FencingMode.WRITE:
            return fenced_update(conn, inventory, item_id, _fence(lease), quantity=quantity)
        return conn.execute(sa.update(inventory).where(inventory.c.id == item_id, inventory.c.fence == lease.fence)
                            .values(quantity=quantity)).rowcount == 1


def sell_one(engine: Engine, lock: RedisLock, item_id: int, fencing: FencingMode, pause_s: float = 0.0) -> Sale:
    """Sell one unit under `lock`: "sold", "rejected" (a fence refused us) or "busy" (no lock)."""
    lease = lock.acquire()
    if lease is None:
        return Sale.BUSY
    failpoints.point(LOCKED, f"fence {lease.fence}" if fencing != FencingMode.NONE else None)
    seen = _read(engine, item_id, lease, fencing)
    if seen is None:
        failpoints.point(STALE_READ)
        return Sale.REJECTED
    failpoints.point(READ, str(seen))
    if pause_s:
        time.sleep(pause_s)  # the GC pause: the lease runs out while we are frozen
        failpoints.point(PAUSED, f"{pause_s * 1000:.0f} ms")
    wrote = _write(engine, item_id, lease, fencing, seen - 1)
    if wrote:
        failpoints.point(WROTE, str(seen - 1))
    else:
        failpoints.point(STALE_WRITE)
    if not lock.release(lease):
        failpoints.note("stale: lease lost")
    return Sale.SOLD if wrote else Sale.REJECTED
