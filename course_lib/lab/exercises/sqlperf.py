"""Exercise for notebook 06: a keyset page query that is fast and never repeats or skips a row."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlalchemy as sa

from course_lib import backends
from course_lib.lab.exercises import exercise
from course_lib.sqlperf import generate, pagination
from course_lib.sqlperf.plans import explain

PageSql = Callable[[], str]
# Below ~7,000 orders MariaDB 10.11 rightly prefers reading the whole table and sorting it to walking the
# index for the first page (measured: 3,000 to 6,000 orders -> filesort, 8,000 and more -> the index), so
# the plan check runs on a table where the index is the right answer, whatever size a lesson left behind.
MIN_ORDERS = 20_000


@exercise("keyset_sql",
          concept="instead of skipping N rows, continue after the last row you showed: its sort key (created_at, "
                  "id) is the cursor, and id breaks ties",
          outline="WHERE created_at <= :c AND (created_at < :c OR id < :i) ORDER BY created_at DESC, "
          "id DESC LIMIT :size: a total order (id breaks ties) and a range the index can seek")
def check_keyset_sql(page_sql: PageSql) -> Iterator[tuple[str, bool]]:
    engine = backends.sql().engine
    with engine.connect() as conn:
        loaded = sa.inspect(conn).has_table("shop_orders") and conn.exec_driver_sql(
            "SELECT COUNT(*) FROM shop_orders").scalar_one() >= MIN_ORDERS
    if not loaded:
        generate.load(engine, n_orders=MIN_ORDERS, n_users=MIN_ORDERS // 10)
    sql = page_sql()
    pagination.WALKS["your query"] = (sql, lambda row: {"c": row.created_at, "i": row.id})
    try:
        result = pagination.walk(engine, "your query", pages=8, size=100)
    finally:
        del pagination.WALKS["your query"]
    yield f"no row repeated across 8 pages while orders arrive (repeated: {result.duplicates})", result.duplicates == 0
    yield f"no row skipped, ties included (skipped: {result.missing})", result.missing == 0
    plan = explain(engine, sql, {**pagination.FAR_FUTURE, "size": 100})
    yield "the plan seeks the (created_at, id) index instead of scanning and sorting", \
        not plan.filesort and plan.index == "ix_orders_created_id"
