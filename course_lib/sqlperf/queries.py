"""The lesson's before/after cases: each a query, the index that fixes it, and what the fix should show.

A case is measured twice on the same data: before (only the primary key and an index on user_id,
what an ORM's defaults give you) and after adding the case's index or rewriting the query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from course_lib.sqlperf.plans import Plan, explain, time_query
from course_lib.sqlperf.schema import INDEXES, add_index, drop_index


@dataclass(frozen=True)
class Case:
    name: str
    why: str
    before_sql: str
    after_sql: str
    index: str | None  # added for "after"; None when the fix is a rewrite
    params: dict[str, Any]


CASES = [
    Case("covering index",
         "SELECT * through an index on user_id reads all the user's rows from the table and sorts them to "
         "keep 50; named columns under (user_id, created_at, status, total_cents) read 50 index entries, in order",
         "SELECT * FROM shop_orders WHERE user_id = :user ORDER BY created_at DESC LIMIT 50",
         "SELECT id, created_at, status, total_cents FROM shop_orders WHERE user_id = :user "
         "ORDER BY created_at DESC LIMIT 50",
         "ix_orders_user_recent_covering", {"user": 1}),
    Case("composite index for WHERE + ORDER BY",
         "equality column first, sort column second: the index delivers the rows already in order",
         "SELECT id, created_at, total_cents FROM shop_orders WHERE status = :status "
         "ORDER BY created_at DESC LIMIT 50",
         "SELECT id, created_at, total_cents FROM shop_orders WHERE status = :status "
         "ORDER BY created_at DESC LIMIT 50",
         "ix_orders_status_created", {"status": "pending"}),
    # Not DATE(created_at): MariaDB 11.1+ (and MySQL 8.0.x for some forms) rewrite DATE(col) = const and
    # YEAR(col) = const into an index range themselves. The day taken as text is the same mistake with
    # no rewrite on any version; the fixes are the range below, or a functional index / generated
    # column (MySQL 8.0.13+, MariaDB's indexed virtual columns) on exactly that expression.
    Case("function on an indexed column",
         "a function of created_at (its day, as text) must be computed for every row, so the index on "
         "created_at cannot seek; a half-open range on the bare column can",
         "SELECT id, total_cents FROM shop_orders WHERE SUBSTR(created_at, 1, 10) = :day",
         "SELECT id, total_cents FROM shop_orders WHERE created_at >= :day AND created_at < :next_day",
         None, {"day": "2026-03-15", "next_day": "2026-03-16"}),
]

# The function case needs an index on created_at in both runs: the point is that it goes unused.
BASE_INDEX_FOR = {"function on an indexed column": "ix_orders_created_id"}


@dataclass(frozen=True)
class Measured:
    case: Case
    before: Plan
    after: Plan
    before_ms: float
    after_ms: float

    @property
    def speedup(self) -> float:
        return self.before_ms / self.after_ms if self.after_ms else float("inf")

    def row(self) -> dict[str, Any]:
        return {"case": self.case.name, "before ms": round(self.before_ms, 2), "after ms": round(self.after_ms, 2),
                "speedup": f"{self.speedup:.1f}x", "before plan": _short(self.before), "after plan": _short(self.after)}


def _short(plan: Plan) -> str:
    parts = [f"index {plan.index}" if plan.index else "no index"]
    parts += ["full scan"] * plan.full_scan + ["filesort"] * plan.filesort + ["index only"] * plan.index_only
    return ", ".join(parts)


def measure(engine: Engine, case: Case, repeat: int = 5) -> Measured:
    """Plan and median time before, then add the case's index (or use the rewrite), plan and time after."""
    base = BASE_INDEX_FOR.get(case.name)
    for name in INDEXES:  # "before" is the ORM's defaults: the primary key and the index on user_id
        if name != base:
            drop_index(engine, name)
    if base:
        add_index(engine, base)
    before = explain(engine, case.before_sql, case.params)
    before_ms = time_query(engine, case.before_sql, case.params, repeat)
    if case.index:
        add_index(engine, case.index)
    after = explain(engine, case.after_sql, case.params)
    after_ms = time_query(engine, case.after_sql, case.params, repeat)
    return Measured(case, before, after, before_ms, after_ms)
