"""The lock's hazard and its fix, on real Redis and the real database (notebook 02).

One item in stock, workers that sell it under a Redis lock: take the lock, read the stock, write
stock - 1, release. A worker that pauses longer than the lease (a GC pause, a stalled VM) wakes up
still believing it holds the lock, and writes a stock figure computed from a stale read.

Three ways to write, `fencing=`:
* "none": a plain UPDATE. The stale write lands: one sale is lost from the stock.
* "write": the UPDATE carries the fencing token and the row refuses tokens older than the last one
  it accepted (`UPDATE ... WHERE fence < :token`). Enough when the stale holder writes *after* the
  new holder; not when it writes first, because the row has not seen the newer token yet.
* "full": the holder registers its token on the row when it *reads* (first access in the critical
  section), and writes only while the row still carries that token (`WHERE fence = :token`). Any
  interleaving of a stale holder is then rejected.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import race
from ..locks import FencedLock, Lease, RedisLock, fenced_update
from ..race import RaceResult
from .schema import inventory

FENCING_MODES = ("none", "write", "full")
# Lock step: the lease is short and the pause clearly longer, but both stay far below the race
# harness's blocked-caller detection (0.5 s), so a pause reads as "paused", not "blocked".
DEMO_LEASE_MS, DEMO_PAUSE_S = 100, 0.2


@dataclass(frozen=True)
class HazardResult:
    """What happened to the stock: units the workers believe they sold against what left the shelf."""

    fencing: str
    sold: int
    rejected: int
    stock_before: int
    stock_after: int
    race: RaceResult | None = None

    @property
    def lost_updates(self) -> int:
        """Sales that the stock does not show: the corruption a double holder causes."""
        return self.sold - (self.stock_before - self.stock_after)


def restock(engine: Engine, quantity: int) -> int:
    """A fresh inventory row (fence 0) with `quantity` units; returns its id."""
    with engine.begin() as conn:
        return conn.execute(sa.insert(inventory).values(sku=f"SKU-{uuid.uuid4().hex[:12].upper()}",
                                                        quantity=quantity, fence=0)).inserted_primary_key[0]


def stock(engine: Engine, item_id: int) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(inventory.c.quantity).where(inventory.c.id == item_id)).scalar_one()


def _read(engine: Engine, item_id: int, lease: Lease, fencing: str) -> int | None:
    """The stock as this holder sees it; under "full" fencing, None if a newer token got there first."""
    with engine.begin() as conn:
        if fencing == "full" and not fenced_update(conn, inventory, item_id, lease.fence):
            return None
        return conn.execute(sa.select(inventory.c.quantity).where(inventory.c.id == item_id)).scalar_one()


def _write(engine: Engine, item_id: int, lease: Lease, fencing: str, quantity: int) -> bool:
    with engine.begin() as conn:
        if fencing == "none":
            conn.execute(sa.update(inventory).where(inventory.c.id == item_id).values(quantity=quantity))
            return True
        if fencing == "write":
            return fenced_update(conn, inventory, item_id, lease.fence, quantity=quantity)
        return conn.execute(sa.update(inventory).where(inventory.c.id == item_id, inventory.c.fence == lease.fence)
                            .values(quantity=quantity)).rowcount == 1


def sell_one(engine: Engine, lock: RedisLock, item_id: int, fencing: str, pause_s: float = 0.0) -> str:
    """Sell one unit under `lock`: "sold", "rejected" (a fence refused us) or "busy" (no lock)."""
    lease = lock.acquire()
    if lease is None:
        return "busy"
    race.point("lock" + (f", fence {lease.fence}" if fencing != "none" else ""))
    seen = _read(engine, item_id, lease, fencing)
    if seen is None:
        race.point("stale read refused")
        return "rejected"
    race.point(f"read {seen}")
    if pause_s:
        time.sleep(pause_s)  # the GC pause: the lease runs out while we are frozen
        race.point(f"paused {pause_s * 1000:.0f} ms")
    wrote = _write(engine, item_id, lease, fencing, seen - 1)
    race.point(f"wrote {seen - 1}" if wrote else "stale write refused")
    if not lock.release(lease):
        race.note("stale: lease lost")
    return "sold" if wrote else "rejected"


# Turns for the two interleavings, A being the worker that pauses. Each turn runs one worker from
# one race.point to the next; after the list, round robin finishes whoever is left.
SCHEDULES = {
    # A pauses; B takes the lock, reads, writes and leaves; then A writes (stale write last).
    "stale_write_last": ["A", "A", "A", "B", "B", "B", "B"],
    # A pauses; B takes the lock and reads; A wakes and writes first; then B writes.
    "stale_write_first": ["A", "A", "A", "B", "B", "A", "A", "B", "B"],
}


def double_holder(engine: Engine, client: redis.Redis, fencing: str, interleaving: str = "stale_write_last",
                  lease_ms: int = DEMO_LEASE_MS, pause_s: float = DEMO_PAUSE_S) -> HazardResult:
    """Two workers in lock step on one item: A pauses past its lease mid-sale, B takes the lock."""
    if fencing not in FENCING_MODES:
        raise ValueError(f"fencing must be one of {FENCING_MODES}, not {fencing!r}")
    item_id, before = restock(engine, 10), 10
    lock = FencedLock(client, f"lock:inventory:{item_id}:{uuid.uuid4().hex}", lease_ms)
    workers = [lambda _c: sell_one(engine, lock, item_id, fencing, pause_s=pause_s),
               lambda _c: sell_one(engine, lock, item_id, fencing)]
    result = race.run(workers, schedule=SCHEDULES[interleaving])
    result.raise_first_error()
    outcomes = list(result.results.values())
    return HazardResult(fencing, outcomes.count("sold"), outcomes.count("rejected"), before, stock(engine, item_id),
                        result)


def stress(engine: Engine, client: redis.Redis, fencing: str, workers: int = 8, sales_each: int = 8,
           pause_share: float = 0.25, lease_ms: int = 20, pause_s: float = 0.03, seed: int = 1) -> HazardResult:
    """Workers released together, each selling `sales_each` units; a `pause_share` of sales pause past the lease."""
    if fencing not in FENCING_MODES:
        raise ValueError(f"fencing must be one of {FENCING_MODES}, not {fencing!r}")
    before = workers * sales_each * 2
    item_id = restock(engine, before)
    lock = FencedLock(client, f"lock:inventory:{item_id}:{uuid.uuid4().hex}", lease_ms)

    def worker(caller: race.Caller) -> list[str]:
        rng, outcomes = random.Random(seed * 1000 + caller.index), []
        while len(outcomes) < sales_each:
            pause = pause_s if rng.random() < pause_share else 0.0
            outcome = sell_one(engine, lock, item_id, fencing, pause_s=pause)
            if outcome == "busy":
                time.sleep(0.001 + rng.random() * 0.002)  # someone holds it: try again shortly
            else:
                outcomes.append(outcome)
        return outcomes

    result = race.run(worker, callers=workers)
    result.raise_first_error()
    every = [o for outcomes in result.results.values() for o in outcomes]
    return HazardResult(fencing, every.count("sold"), every.count("rejected"), before, stock(engine, item_id))
