"""A deterministic, seeded shop: users and their orders, loaded in bulk.

Same seed, same rows, on every machine: a plan or a timing in the notebook refers to the same data
the learner has. Realistic where it matters for plans: a few heavy buyers and a long tail (Zipf-like),
statuses skewed towards "delivered", a year of orders with ids growing with time, and, at the
newest end, a flash sale: a batch import that stamped FLASH_SALE_ORDERS orders with the very same
second (the tie that breaks naive pagination).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib.sqlperf.schema import orders, reset, users

START = datetime(2025, 11, 1)
YEAR_S = 365 * 24 * 3600
STATUSES = np.array(["delivered", "shipped", "paid", "pending", "cancelled", "refunded"])
STATUS_WEIGHTS = [0.62, 0.12, 0.10, 0.08, 0.05, 0.03]
COUNTRIES = np.array(["VN", "DE", "US", "FR", "JP", "BR", "IN", "GB"])
FLASH_SALE_ORDERS = 500
# Rows per INSERT: PyMySQL turns executemany into multi-row INSERTs; 5,000 rows of ~250 bytes stay
# far below MySQL's default max_allowed_packet (16-64 MiB).
BATCH = 5_000
NOTE = "gift wrap please, leave the parcel with the neighbour if nobody answers the door"


def _users(rng: np.random.Generator, n_users: int) -> list[dict]:
    days = rng.integers(0, 900, n_users)
    return [{"id": i + 1, "email": f"user{i + 1}@example.com", "country": str(COUNTRIES[i % len(COUNTRIES)]),
             "created_at": START - timedelta(days=int(days[i]))} for i in range(n_users)]


def _buyer_weights(n_users: int) -> np.ndarray:
    """Zipf-like popularity, 1 / rank**0.8: the top buyer places ~3% of orders, most users a handful."""
    weights = 1.0 / np.arange(1, n_users + 1) ** 0.8
    return weights / weights.sum()


def _orders(rng: np.random.Generator, first: int, count: int, n_orders: int, n_users: int) -> list[dict]:
    """Orders first+1 .. first+count, their times in this batch's slice of the year, in order."""
    low, high = YEAR_S * first // n_orders, YEAR_S * (first + count) // n_orders
    seconds = np.sort(rng.integers(low, max(high, low + 1), count))
    tail = first + count - (n_orders - FLASH_SALE_ORDERS)  # how many of this batch belong to the flash sale
    if tail > 0:
        seconds[-tail:] = YEAR_S  # one second, after everything else
    buyers = rng.choice(n_users, count, p=_buyer_weights(n_users)) + 1
    statuses = rng.choice(STATUSES, count, p=STATUS_WEIGHTS)
    totals = rng.integers(500, 500_000, count)
    return [{"id": first + i + 1, "user_id": int(buyers[i]), "status": str(statuses[i]),
             "total_cents": int(totals[i]), "created_at": START + timedelta(seconds=int(seconds[i])), "note": NOTE}
            for i in range(count)]


def load(engine: Engine, n_orders: int = 200_000, n_users: int = 20_000, seed: int = 6,
         progress: Callable[[int], None] | None = None) -> None:
    """Reset the shop tables and load the users and orders in batches (ids in time order)."""
    reset(engine)
    rng = np.random.default_rng(seed)
    with engine.begin() as conn:
        conn.execute(sa.insert(users), _users(rng, n_users))
    for first in range(0, n_orders, BATCH):
        count = min(BATCH, n_orders - first)
        with engine.begin() as conn:
            conn.execute(sa.insert(orders), _orders(rng, first, count, n_orders, n_users))
        if progress:
            progress(count)
    analyze(engine)


def analyze(engine: Engine) -> None:
    """Fresh statistics, so the planner's choices in the lesson are the ones it would make in production."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE TABLE shop_users, shop_orders")
