"""Two holders of one lock, made to happen on real Redis and the real database (notebook 02).

`double_holder` runs two sellers in lock step on one item: A pauses past its lease mid-sale and B
takes the lock, in either order of the two writes. `stress` releases many sellers together with
random pauses. Both count what the stock lost (`HazardResult.lost_updates`) for each `FencingMode`.
The sellers are `course_lib.orders.fencing.sell_one`; the schedules pause them at its failpoints.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

import redis
from sqlalchemy.engine import Engine

from course_lib.lab import race
from course_lib.lab.race import RaceResult
from course_lib.orders.fencing import PAUSED, READ, FencingMode, Sale, restock, sell_one, stock
from course_lib.orders.locks import FencedLock

FENCING_MODES = tuple(FencingMode)
# Lock step: the lease is short and the pause clearly longer, but both stay far below the race
# harness's blocked-caller detection (0.5 s), so a pause reads as "paused", not "blocked".
DEMO_LEASE_MS, DEMO_PAUSE_S = 100, 0.2


@dataclass(frozen=True)
class HazardResult:
    """What happened to the stock: units the workers believe they sold against what left the shelf."""

    fencing: FencingMode
    sold: int
    rejected: int
    stock_before: int
    stock_after: int
    race: RaceResult | None = None

    @property
    def lost_updates(self) -> int:
        """Sales that the stock does not show: the corruption a double holder causes."""
        return self.sold - (self.stock_before - self.stock_after)


# The two interleavings, A being the seller that pauses, as steps to named failpoints of sell_one.
SCHEDULES: dict[str, list[race.Step]] = {
    # A pauses; B takes the lock, reads, writes and leaves; then A writes (stale write last).
    "stale_write_last": [("A", PAUSED), ("B", race.END), ("A", race.END)],
    # A pauses; B takes the lock and reads; A wakes and writes first; then B writes.
    "stale_write_first": [("A", PAUSED), ("B", READ), ("A", race.END), ("B", race.END)],
}


def double_holder(engine: Engine, client: redis.Redis, fencing: FencingMode | str,
                  interleaving: str = "stale_write_last",
                  lease_ms: int = DEMO_LEASE_MS, pause_s: float = DEMO_PAUSE_S) -> HazardResult:
    """Two workers in lock step on one item: A pauses past its lease mid-sale, B takes the lock."""
    fencing = _mode(fencing)
    item_id, before = restock(engine, 10), 10
    lock = FencedLock(client, f"lock:inventory:{item_id}:{uuid.uuid4().hex}", lease_ms)
    workers = [lambda _c: sell_one(engine, lock, item_id, fencing, pause_s=pause_s),
               lambda _c: sell_one(engine, lock, item_id, fencing)]
    result = race.run(workers, schedule=SCHEDULES[interleaving])
    result.raise_first_error()
    outcomes = list(result.results.values())
    return HazardResult(fencing, outcomes.count(Sale.SOLD), outcomes.count(Sale.REJECTED), before,
                        stock(engine, item_id),
                        result)


def stress(engine: Engine, client: redis.Redis, fencing: FencingMode | str, workers: int = 8, sales_each: int = 8,
           pause_share: float = 0.25, lease_ms: int = 20, pause_s: float = 0.03, seed: int = 1) -> HazardResult:
    """Workers released together, each selling `sales_each` units; a `pause_share` of sales pause past the lease."""
    fencing = _mode(fencing)
    before = workers * sales_each * 2
    item_id = restock(engine, before)
    lock = FencedLock(client, f"lock:inventory:{item_id}:{uuid.uuid4().hex}", lease_ms)

    def worker(caller: race.Caller) -> list[Sale]:
        rng, outcomes = random.Random(seed * 1000 + caller.index), list[Sale]()
        while len(outcomes) < sales_each:
            pause = pause_s if rng.random() < pause_share else 0.0
            outcome = sell_one(engine, lock, item_id, fencing, pause_s=pause)
            if outcome == Sale.BUSY:
                time.sleep(0.001 + rng.random() * 0.002)  # someone holds it: try again shortly
            else:
                outcomes.append(outcome)
        return outcomes

    result = race.run(worker, callers=workers)
    result.raise_first_error()
    every = [o for outcomes in result.results.values() for o in outcomes]
    return HazardResult(fencing, every.count(Sale.SOLD), every.count(Sale.REJECTED), before, stock(engine, item_id))


def _mode(fencing: FencingMode | str) -> FencingMode:
    try:
        return FencingMode(fencing)
    except ValueError:
        raise ValueError(f"fencing must be one of {[m.value for m in FencingMode]}, not {fencing!r}") from None
