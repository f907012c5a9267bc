"""Pagination two ways: OFFSET against keyset ("seek"), for speed and for correctness.

OFFSET n makes the server produce and throw away n rows before the page: page 5,000 costs 5,000
pages of work. A keyset page starts where the last one ended, `WHERE (created_at, id) < (:c, :i)`,
and costs the same at any depth, given an index on (created_at, id).

Correctness: the ordering must be total. created_at alone is not unique (a batch import stamps
hundreds of orders with one second), so "the rows after this one" is ambiguous: a keyset on
created_at alone skips every row that ties with a page's last row, and OFFSET pages shift when rows
arrive between requests, repeating rows. Adding the primary key as a tie-breaker makes both
problems disappear.

The tuple comparison `(created_at, id) < (:c, :i)` is spelled out as `created_at <= :c AND
(created_at < :c OR id < :i)`: the same rows, and the first condition alone is a plain range on the
index, which every planner uses (MariaDB does not use an index for the row-constructor form, and
SQLite scans for the `a < c OR (a = c AND ...)` form).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib.sqlperf.generate import NOTE
from course_lib.sqlperf.plans import time_query
from course_lib.sqlperf.schema import add_index, orders

COLUMNS = "id, created_at, status, total_cents"
OFFSET_SQL = f"SELECT {COLUMNS} FROM shop_orders ORDER BY created_at DESC, id DESC LIMIT :size OFFSET :offset"
KEYSET_SQL = (f"SELECT {COLUMNS} FROM shop_orders WHERE created_at <= :c AND (created_at < :c OR id < :i) "
              "ORDER BY created_at DESC, id DESC LIMIT :size")

# How pages are fetched in the correctness walk: (sql, cursor from the page's last row or None).
WALKS: dict[str, tuple[str, Callable | None]] = {
    "OFFSET, ORDER BY created_at": (
        f"SELECT {COLUMNS} FROM shop_orders ORDER BY created_at DESC LIMIT :size OFFSET :offset", None),
    "keyset on created_at alone": (
        f"SELECT {COLUMNS} FROM shop_orders WHERE created_at < :c ORDER BY created_at DESC LIMIT :size",
        lambda row: {"c": row.created_at}),
    "keyset on (created_at, id)": (KEYSET_SQL, lambda row: {"c": row.created_at, "i": row.id}),
}
FAR_FUTURE = {"c": datetime(9999, 1, 1), "i": 2**62}


def depth_latency(engine: Engine, depths: list[int], size: int = 20, repeat: int = 5) -> dict[str, list[float]]:
    """Median ms to fetch the page at each depth (page number), by OFFSET and by keyset."""
    add_index(engine, "ix_orders_created_id")
    result: dict[str, list[float]] = {"OFFSET": [], "keyset": []}
    with engine.connect() as conn:
        cursors = {d: conn.execute(sa.text(OFFSET_SQL), {"size": 1, "offset": d * size - 1}).one() if d else None
                   for d in depths}
    for depth in depths:
        result["OFFSET"].append(time_query(engine, OFFSET_SQL, {"size": size, "offset": depth * size}, repeat))
        row = cursors[depth]
        params = {"c": row.created_at, "i": row.id} if row else FAR_FUTURE
        result["keyset"].append(time_query(engine, KEYSET_SQL, {**params, "size": size}, repeat))
    return result


@dataclass(frozen=True)
class Walk:
    method: str
    expected: int  # rows that existed when the walk started and fell within its pages
    seen: int
    duplicates: int
    missing: int


def walk(engine: Engine, method: str, pages: int = 10, size: int = 100, inserts_between_pages: int = 3) -> Walk:
    """Read `pages` pages newest first while new orders arrive between pages; count repeats and gaps."""
    sql, cursor_of = WALKS[method]
    add_index(engine, "ix_orders_created_id")
    with engine.connect() as conn:
        expected = [r.id for r in conn.execute(sa.text(f"SELECT id FROM shop_orders ORDER BY created_at DESC, id DESC "
                                                       f"LIMIT {pages * size}"))]
        top_id, top_time = conn.execute(sa.select(sa.func.max(orders.c.id), sa.func.max(orders.c.created_at))).one()
    seen: list[int] = []
    params: dict = {"offset": 0} if cursor_of is None else dict(FAR_FUTURE)
    added: list[int] = []
    try:
        for page in range(pages):
            with engine.connect() as conn:
                rows = conn.execute(sa.text(sql), {**params, "size": size}).all()
            seen += [r.id for r in rows]
            params = {"offset": (page + 1) * size} if cursor_of is None else cursor_of(rows[-1])
            added += _new_orders(engine, top_id + len(added), top_time, inserts_between_pages)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.delete(orders).where(orders.c.id.in_(added)))
    old = set(expected)
    seen_old = [i for i in seen if i in old]
    return Walk(method, len(expected), len(seen), len(seen_old) - len(set(seen_old)), len(old - set(seen_old)))


def _new_orders(engine: Engine, after_id: int, after_time: datetime, count: int) -> list[int]:
    """Orders placed while the reader looks at a page: newer than everything, so they land on page 1
    and push the rest down."""
    rows: list[dict[str, Any]] = [
        {"id": after_id + k + 1, "user_id": 1, "status": "pending", "total_cents": 1000, "note": NOTE,
         "created_at": after_time + timedelta(seconds=k + 1)} for k in range(count)]
    if rows:
        with engine.begin() as conn:
            conn.execute(sa.insert(orders), rows)
    return [r["id"] for r in rows]
