"""The query-performance lesson's code: the seeded shop, plans before and after, pagination, partitions, locks.

Plan and correctness checks run on both SQL backends; timings are only printed by the notebook and
`course bench sql`, never asserted here.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from course_lib.lab import results
from course_lib.lab.drill.sql_answer import interview_answer
from course_lib.sqlperf import explain, generate, pagination, partitions, queries, transactions
from course_lib.sqlperf.schema import orders

SMALL = 6_000


@pytest.fixture
def shop(sql_engine):
    generate.load(sql_engine, n_orders=SMALL, n_users=600)
    return sql_engine


def test_the_shop_is_the_same_for_the_same_seed_and_has_the_flash_sale_ties(shop):
    with shop.connect() as conn:
        first = conn.execute(sa.select(orders.c.id, orders.c.user_id, orders.c.status, orders.c.created_at)
                             .order_by(orders.c.id)).all()
        ties = conn.execute(sa.select(sa.func.count()).select_from(orders)
                            .where(orders.c.created_at == sa.select(sa.func.max(orders.c.created_at))
                                   .scalar_subquery())).scalar_one()
    generate.load(shop, n_orders=SMALL, n_users=600)
    with shop.connect() as conn:
        again = conn.execute(sa.select(orders.c.id, orders.c.user_id, orders.c.status, orders.c.created_at)
                             .order_by(orders.c.id)).all()
    assert first == again and len(first) == SMALL
    assert ties == generate.FLASH_SALE_ORDERS
    assert [r.created_at for r in first] == sorted(r.created_at for r in first), "ids grow with time"


@pytest.mark.parametrize("case", queries.CASES, ids=lambda c: c.name)
def test_each_case_changes_the_plan_the_way_the_lesson_says(shop, case):
    measured = queries.measure(shop, case, repeat=1)
    before, after = measured.before, measured.after
    if case.name == "covering index":
        assert after.index_only and not before.index_only and before.filesort and not after.filesort
    elif case.name.startswith("composite"):
        assert before.full_scan and before.filesort and not after.full_scan and not after.filesort
    else:
        assert before.full_scan and not after.full_scan and after.index == "ix_orders_created_id"


def test_keyset_page_seeks_the_index_without_sorting(shop):
    pagination.depth_latency(shop, [0, 10], repeat=1)  # creates the index it needs
    plan = explain(shop, pagination.KEYSET_SQL, {**pagination.FAR_FUTURE, "size": 20})
    assert plan.index == "ix_orders_created_id" and not plan.filesort and not plan.full_scan


def test_only_the_total_order_pages_without_repeats_or_gaps_while_rows_arrive(shop):
    walks = {method: pagination.walk(shop, method, pages=6, size=100) for method in pagination.WALKS}
    assert walks["OFFSET, ORDER BY created_at"].duplicates > 0
    assert walks["keyset on created_at alone"].missing > 0
    fixed = walks["keyset on (created_at, id)"]
    assert (fixed.duplicates, fixed.missing, fixed.seen) == (0, 0, 600)
    with shop.connect() as conn:  # the rows inserted during the walks are gone again
        assert conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar_one() == SMALL


def test_partitions_expire_by_drop_and_cost_the_unique_key(mariadb_engine):
    partitions.load(mariadb_engine, rows=12_000)
    delete, drop = partitions.expire_oldest_month(mariadb_engine)
    assert delete.rows_removed == drop.rows_removed > 0
    assert delete.row_locks_held >= delete.rows_removed and drop.row_locks_held == 0
    kept = partitions.months()
    names = [p["partition"] for p in partitions.partitions(mariadb_engine)]
    assert names[:2] == [partitions.EMPTY_FIRST, partitions.partition_name(kept[1])] and names[-1] == "pfuture"
    with pytest.raises(sa.exc.OperationalError, match="1503"):
        partitions.unique_key_without_partition_column(mariadb_engine)
    assert partitions.same_key_twice(mariadb_engine) == 2


def test_a_month_range_reads_that_month_and_only_an_empty_first_partition_besides(mariadb_engine):
    """The TO_DAYS() quirk (MySQL manual, "Partition Pruning"): a range is pruned to its partitions plus the
    first one, where NULL and invalid dates go. An empty first partition makes that extra read free."""
    partitions.load(mariadb_engine, rows=6_000)
    kept = partitions.months()
    assert partitions.pruned_partitions(mariadb_engine, kept[3], kept[4]) == [
        partitions.EMPTY_FIRST, partitions.partition_name(kept[3])]
    with mariadb_engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {partitions.PARTITIONED} "
                                    f"PARTITION ({partitions.EMPTY_FIRST})").scalar() == 0


def test_bounds_follow_the_calendar_and_the_monthly_job_adds_next_month(mariadb_engine):
    partitions.load(mariadb_engine, rows=1_200)
    today = date.today()
    assert partitions.months()[-2] == today.replace(day=1), "the last named partition is this month's"
    with mariadb_engine.begin() as conn:  # a row written now lands in this month's partition, not pfuture
        conn.exec_driver_sql(f"INSERT INTO {partitions.PARTITIONED} (stream_id, created_at, payload) "
                             "VALUES ('now', UTC_TIMESTAMP(6), 'x')")
        in_future = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {partitions.PARTITIONED} PARTITION (pfuture)").scalar()
    assert in_future == 0
    added = partitions.add_next_month(mariadb_engine)
    names = [p["partition"] for p in partitions.partitions(mariadb_engine)]
    assert added == partitions.partition_name(partitions.months()[-1]) and names[-2:] == [added, "pfuture"]


def test_a_long_transaction_times_the_other_out_and_a_short_one_does_not(mariadb_engine):
    generate.load(mariadb_engine, n_orders=1_000, n_users=100)
    slow = transactions.contend(mariadb_engine, order_id=1, slow_call_s=1.5, inside_transaction=True)
    assert slow.waiter_error and slow.waiter_error.startswith("1205") and slow.lock_waits
    fast = transactions.contend(mariadb_engine, order_id=1, slow_call_s=1.5, inside_transaction=False)
    assert fast.waiter_error is None and fast.waiter_waited_s < transactions.LOCK_WAIT_TIMEOUT_S


def test_the_interview_answer_quotes_the_measured_numbers(tmp_path, clean_env):
    figures = {"orders": 200_000, "database": "MariaDB 10.11",
               "cases": {"covering index": {"before ms": 12.0, "after ms": 0.75},
                         "composite index for WHERE + ORDER BY": {"before ms": 31.7, "after ms": 0.76},
                         "function on an indexed column": {"before ms": 27.1, "after ms": 2.1}},
               "pagination": {"deepest page": 9000, "offset ms": 58.1, "keyset ms": 0.61}}
    answer = interview_answer(figures)
    for number in ("31.7", "0.76", "27.1", "2.1", "12.0", "0.75", "58.1", "0.61", "200,000"):
        assert number in answer
    path = results.save("sql_performance", figures)
    assert json.loads(path.read_text()) == figures and path.parent.name == "results"


def test_bench_sql_writes_before_and_after_for_every_case(tmp_path, clean_env):
    from course_lib.lab.bench import sql

    report = sql.main(orders=10_000, repeat=3, out=tmp_path / "sql.json")
    assert json.loads((tmp_path / "sql.json").read_text()) == report
    assert set(report["cases"]) == {c.name for c in queries.CASES}
    assert all(c["before_ms"] > 0 and c["after_ms"] > 0 for c in report["cases"].values())
    assert report["pagination"]["page"] > 0


def test_partitioning_events_by_month_breaks_the_version_check_and_by_stream_keeps_it(mariadb_engine):
    """Notebook 04's optimistic concurrency is UNIQUE(stream_id, version): with created_at forced into it,
    two writers at one version both win; partitioned by KEY(stream_id), one does."""
    assert partitions.two_writers_at_one_version(mariadb_engine, "by month") == 2
    assert partitions.two_writers_at_one_version(mariadb_engine, "by stream") == 1
