"""Reference solutions for notebook 06: the keyset query, reading EXPLAIN, a covering index."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.engine import Connection

from course_lib.sqlperf.pagination import KEYSET_SQL


def keyset_sql() -> str:
    return KEYSET_SQL


def read_plan(conn: Connection, sql: str) -> dict[str, Any]:
    if conn.dialect.name == "sqlite":  # one row per step; the access step names its index
        details = [row.detail for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
        index = next((m.group(1) for d in details if (m := re.search(r"INDEX (\w+)", d))), None)
        return {"index": index, "rows": None}
    row = conn.exec_driver_sql("EXPLAIN " + sql).mappings().one()  # one row: one table
    return {"index": row["key"], "rows": row["rows"]}


def covering_index() -> str:
    # status: equality; created_at: the range and the order; total_cents: the last column the query reads.
    return "CREATE INDEX ix_exercise_covering ON shop_orders (status, created_at, total_cents)"
