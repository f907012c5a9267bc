"""Exercises for notebook 06: a keyset page query, reading a plan yourself, an index that covers a query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from course_lib import backends
from course_lib.lab.exercises import exercise
from course_lib.sqlperf import generate, pagination
from course_lib.sqlperf.plans import explain, explain_on

PageSql = Callable[[], str]
# Below ~7,000 orders MariaDB 10.11 rightly prefers reading the whole table and sorting it to walking the
# index for the first page (measured: 3,000 to 6,000 orders -> filesort, 8,000 and more -> the index), so
# the plan check runs on a table where the index is the right answer, whatever size a lesson left behind.
MIN_ORDERS = 20_000


def _loaded() -> Engine:
    """The lesson's engine with at least MIN_ORDERS orders, whatever size the lesson left behind."""
    engine = backends.sql().engine
    with engine.connect() as conn:
        loaded = sa.inspect(conn).has_table("shop_orders") and conn.exec_driver_sql(
            "SELECT COUNT(*) FROM shop_orders").scalar_one() >= MIN_ORDERS
    if not loaded:
        generate.load(engine, n_orders=MIN_ORDERS, n_users=MIN_ORDERS // 10)
    return engine


@exercise("keyset_sql",
          concept="instead of skipping N rows, continue after the last row you showed: its sort key (created_at, "
                  "id) is the cursor, and id breaks ties",
          outline="WHERE created_at <= :c AND (created_at < :c OR id < :i) ORDER BY created_at DESC, "
          "id DESC LIMIT :size: a total order (id breaks ties) and a range the index can seek")
def check_keyset_sql(page_sql: PageSql) -> Iterator[tuple[str, bool]]:
    engine = _loaded()
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


PLAN_QUERIES = ["SELECT id, status FROM shop_orders WHERE user_id = 42",
                "SELECT id FROM shop_orders WHERE note = 'gift wrap'",
                "SELECT id FROM shop_orders WHERE id BETWEEN 100 AND 120"]


@exercise("read_plan",
          concept="EXPLAIN shows the plan without running the query: which index the table access uses (or "
                  "none: every row read) and, on MySQL/MariaDB, how many rows the optimizer expects to examine",
          outline="MySQL/MariaDB: conn.exec_driver_sql('EXPLAIN ' + sql).mappings().first(): its 'key' and 'rows'; "
                  "SQLite: 'EXPLAIN QUERY PLAN ' + sql, the index name after 'INDEX ' in the 'detail' column "
                  "(SQLite has no row estimate: rows None)")
def check_read_plan(read_plan: Callable[[Connection, str], dict[str, Any]]) -> Iterator[tuple[str, bool]]:
    engine = _loaded()
    for sql in PLAN_QUERIES:
        with engine.connect() as conn:
            got = read_plan(conn, sql)
        plan = explain(engine, sql)
        yield f"{sql}: index {got.get('index')!r} (the plan says {plan.index!r})", got.get("index") == plan.index
        want = plan.estimated_rows
        rows = got.get("rows")
        close = rows is None if want is None else rows is not None and want / 2 <= int(rows) <= want * 2 + 1
        yield f"... rows to examine {rows!r} (the plan estimates {want!r})", close


COVERED_QUERY = ("SELECT created_at, total_cents FROM shop_orders WHERE status = 'refunded' "
                 "AND created_at >= '2026-01-01' ORDER BY created_at")
EXERCISE_INDEX = "ix_exercise_covering"


def _drop_exercise_index(engine: Engine) -> None:
    with engine.begin() as conn:
        if EXERCISE_INDEX in {ix["name"] for ix in sa.inspect(conn).get_indexes("shop_orders")}:
            conn.exec_driver_sql(f"DROP INDEX {EXERCISE_INDEX}" + ("" if engine.dialect.name == "sqlite"
                                                                 else " ON shop_orders"))


@exercise("covering_index",
          concept="a covering index holds every column the query touches (the WHERE, the ORDER BY, the SELECT), "
                  "in an order that lets the server seek and read in order: the table's rows are never visited",
          outline=f"CREATE INDEX {EXERCISE_INDEX} ON shop_orders (equality column, then the range/sort column, "
                  "then the remaining selected column)")
def check_covering_index(create_sql: Callable[[], str]) -> Iterator[tuple[str, bool]]:
    engine = _loaded()
    _drop_exercise_index(engine)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(create_sql())
            # fresh statistics, or the planner may still prefer an index the lesson made earlier
            conn.exec_driver_sql(("ANALYZE " if engine.dialect.name == "sqlite" else "ANALYZE TABLE ") + "shop_orders")
            plan = explain_on(conn, COVERED_QUERY)
        yield f"the query uses {EXERCISE_INDEX} (the plan says {plan.index!r})", plan.index == EXERCISE_INDEX
        yield "answered from the index alone: the table's rows are never read", plan.index_only
        yield "no sort after reading: the index delivers created_at in order", not plan.filesort
    finally:
        _drop_exercise_index(engine)
