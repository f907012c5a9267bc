"""Partitioning by time for tables that grow and expire: TTL by DROP PARTITION instead of DELETE.

Idempotency keys (kept 24 h) and events (kept N months) are append-mostly tables whose old rows are
deleted in bulk. A DELETE of a month touches and locks every row of that month, writes undo for each,
and leaves the space fragmented. With `PARTITION BY RANGE (TO_DAYS(created_at))`, that month is one
partition and `ALTER TABLE ... DROP PARTITION` removes it as a file: metadata only, no row locks.

The price, enforced by MySQL: every unique key must include every column of the partitioning
expression. A unique (scope, idem_key) becomes (scope, idem_key, created_at), which no longer stops
the same key from being stored twice at two different times. MySQL/MariaDB only.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

MONTHS = 12
PARTITIONED, FLAT = "shop_events", "shop_events_flat"
# An always-empty first partition. MySQL/MariaDB prune a range on TO_DAYS(col) to the matching
# partitions *plus the first one* (where NULL and invalid dates would go): with real data there, every
# monthly query also reads the oldest month; empty, that extra read costs nothing (the MySQL manual,
# "Partition Pruning", on TO_DAYS()).
EMPTY_FIRST = "p_before"


def _next_month(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1)


def first_month(today: date | None = None, count: int = MONTHS) -> date:
    """The oldest month kept: `count` months ending with the current one (bounds move with the calendar)."""
    d = (today or date.today()).replace(day=1)
    for _ in range(count - 1):
        d = (d - timedelta(days=1)).replace(day=1)
    return d


def months(count: int = MONTHS, today: date | None = None) -> list[date]:
    """The first day of each kept month, and of the month after the last (the upper bound)."""
    firsts, d = [], first_month(today, count)
    for _ in range(count + 1):
        firsts.append(d)
        d = _next_month(d)
    return firsts


def partition_name(month: date) -> str:
    return f"p{month:%Y_%m}"


def partitioned_ddl(table: str = PARTITIONED, count: int = MONTHS) -> str:
    """CREATE TABLE for an events table: an empty first partition, one per month up to the current
    one, and `pfuture` for rows past the last bound (which a monthly job splits; `add_next_month`)."""
    bounds = months(count)
    parts = ",\n  ".join([f"PARTITION {EMPTY_FIRST} VALUES LESS THAN (TO_DAYS('{bounds[0]}'))"] + [
        f"PARTITION {partition_name(start)} VALUES LESS THAN (TO_DAYS('{end}'))"
        for start, end in itertools.pairwise(bounds)])
    return (f"CREATE TABLE {table} (\n  id BIGINT NOT NULL AUTO_INCREMENT,\n  stream_id VARCHAR(64) NOT NULL,\n"
            f"  created_at DATETIME(6) NOT NULL,\n  payload VARCHAR(200) NOT NULL,\n"
            f"  PRIMARY KEY (id, created_at),\n  KEY ix_stream (stream_id, created_at)\n)\n"
            f"PARTITION BY RANGE (TO_DAYS(created_at)) (\n  {parts},\n  PARTITION pfuture VALUES LESS THAN MAXVALUE\n)")


def add_next_month(engine: Engine, table: str = PARTITIONED) -> str:
    """The monthly job: split `pfuture` so next month gets its own partition before its rows arrive.

    REORGANIZE PARTITION of an empty `pfuture` is quick (it copies nothing); run it ahead of time, since
    rows that already landed in `pfuture` are copied by it, and one partition catching every future row
    would have to be split by a long copy later.
    """
    with engine.connect() as conn:
        bounds = conn.exec_driver_sql(
            "SELECT partition_description FROM information_schema.partitions WHERE table_schema = DATABASE() "
            f"AND table_name = '{table}' AND partition_name NOT IN ('pfuture', '{EMPTY_FIRST}') "
            "ORDER BY partition_ordinal_position").scalars().all()
        last_bound = conn.exec_driver_sql(f"SELECT FROM_DAYS({int(bounds[-1])})").scalar_one()
    start = last_bound if isinstance(last_bound, date) else date.fromisoformat(str(last_bound))
    name, end = partition_name(start), _next_month(start)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE {table} REORGANIZE PARTITION pfuture INTO (PARTITION {name} VALUES "
                             f"LESS THAN (TO_DAYS('{end}')), PARTITION pfuture VALUES LESS THAN MAXVALUE)")
    return name


def pruned_partitions(engine: Engine, start: date, end: date, table: str = PARTITIONED) -> list[str]:
    """The partitions a query for [start, end) reads, from EXPLAIN PARTITIONS (MariaDB) / EXPLAIN (MySQL 8)."""
    sql = f"SELECT COUNT(*) FROM {table} WHERE created_at >= '{start}' AND created_at < '{end}'"
    with engine.connect() as conn:
        try:
            row = conn.exec_driver_sql(f"EXPLAIN PARTITIONS {sql}").mappings().first()
        except sa.exc.ProgrammingError:  # MySQL 8 dropped the keyword: plain EXPLAIN has the column
            row = conn.exec_driver_sql(f"EXPLAIN {sql}").mappings().first()
    return str(row["partitions"]).split(",") if row and row["partitions"] else []


FLAT_DDL = (f"CREATE TABLE {FLAT} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, stream_id VARCHAR(64) NOT NULL, "
            "created_at DATETIME(6) NOT NULL, payload VARCHAR(200) NOT NULL, KEY ix_created (created_at), "
            "KEY ix_stream (stream_id, created_at))")

# What the lesson proposes for the idempotency table: the unique key has to carry created_at.
IDEMPOTENCY_PROPOSAL = """CREATE TABLE idempotency_keys_by_day (
  id BIGINT NOT NULL AUTO_INCREMENT,
  scope VARCHAR(64) NOT NULL,
  idem_key VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  -- ... fingerprint, status, lease, response as in notebook 01 ...
  PRIMARY KEY (id, created_at),
  UNIQUE KEY uq_scope_key_day (scope, idem_key, created_at)  -- must include created_at
)
PARTITION BY RANGE (TO_DAYS(created_at)) (
  PARTITION p2026_11_26 VALUES LESS THAN (TO_DAYS('2026-11-27')),
  PARTITION p2026_11_27 VALUES LESS THAN (TO_DAYS('2026-11-28')),
  PARTITION pfuture VALUES LESS THAN MAXVALUE
)"""


def load(engine: Engine, rows: int = 120_000, seed: int = 6) -> None:
    """The same events, spread over the months, into the partitioned and the flat table."""
    rng = np.random.default_rng(seed)
    first = first_month()
    span = (datetime.combine(months()[-1], datetime.min.time()) - datetime.combine(first, datetime.min.time()))
    offsets = np.sort(rng.integers(0, int(span.total_seconds()), rows))
    start = datetime.combine(first, datetime.min.time())
    batch = [{"stream_id": f"order-{int(s) % 5000}", "created_at": start + timedelta(seconds=int(s)),
              "payload": "ItemAdded sku=BOOK-DDIA quantity=1 unit_price_cents=4200"} for s in offsets]
    with engine.begin() as conn:
        for table in (PARTITIONED, FLAT):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(partitioned_ddl())
        conn.exec_driver_sql(FLAT_DDL)
    for table in (PARTITIONED, FLAT):
        target = sa.table(table, sa.column("stream_id"), sa.column("created_at"), sa.column("payload"))
        for i in range(0, rows, 10_000):
            with engine.begin() as conn:
                conn.execute(sa.insert(target), batch[i:i + 10_000])


@dataclass(frozen=True)
class Cleanup:
    how: str
    rows_removed: int
    seconds: float
    row_locks_held: int  # row locks the cleanup transaction held before committing


def _row_locks(conn) -> int:
    return int(conn.exec_driver_sql("SELECT trx_rows_locked FROM information_schema.innodb_trx "
                                    "WHERE trx_mysql_thread_id = CONNECTION_ID()").scalar() or 0)


def expire_oldest_month(engine: Engine) -> list[Cleanup]:
    """Remove the first month from both tables: DELETE on the flat one, DROP PARTITION on the other."""
    cutoff = months()[1]
    with engine.connect() as conn:
        before = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {PARTITIONED} WHERE created_at < '{cutoff}'").scalar()
    results = []
    with engine.connect() as conn:
        start = time.perf_counter()
        with conn.begin():
            removed = conn.exec_driver_sql(f"DELETE FROM {FLAT} WHERE created_at < '{cutoff}'").rowcount
            locks = _row_locks(conn)
        results.append(Cleanup("DELETE ... WHERE created_at < cutoff", removed, time.perf_counter() - start, locks))
    with engine.connect() as conn:
        start = time.perf_counter()
        conn.exec_driver_sql(f"ALTER TABLE {PARTITIONED} DROP PARTITION {partition_name(first_month())}")
        results.append(Cleanup("ALTER TABLE ... DROP PARTITION", int(before or 0), time.perf_counter() - start, 0))
    return results


def partitions(engine: Engine, table: str = PARTITIONED) -> list[dict]:
    """Each partition's name, bound and estimated rows, from information_schema."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT partition_name, partition_description, table_rows FROM information_schema.partitions "
            f"WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY partition_ordinal_position")
        return [{"partition": r[0], "less than (days)": r[1], "rows (estimate)": r[2]} for r in rows]


def unique_key_without_partition_column(engine: Engine) -> None:
    """Try the natural unique key on a table partitioned by time: MySQL refuses (error 1503)."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS shop_keys_try")
        conn.exec_driver_sql(
            "CREATE TABLE shop_keys_try (id BIGINT NOT NULL, scope VARCHAR(64) NOT NULL, idem_key VARCHAR(255) NOT "
            "NULL, created_at DATETIME NOT NULL, PRIMARY KEY (id, created_at), UNIQUE KEY (scope, idem_key)) "
            "PARTITION BY RANGE (TO_DAYS(created_at)) (PARTITION pall VALUES LESS THAN MAXVALUE)")


def same_key_twice(engine: Engine) -> int:
    """With the unique key widened to (scope, idem_key, created_at), one key can be stored twice."""
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS shop_keys_by_day")
        conn.exec_driver_sql(
            "CREATE TABLE shop_keys_by_day (id BIGINT NOT NULL AUTO_INCREMENT, scope VARCHAR(64) NOT NULL, "
            "idem_key VARCHAR(255) NOT NULL, created_at DATETIME(6) NOT NULL, PRIMARY KEY (id, created_at), "
            "UNIQUE KEY uq (scope, idem_key, created_at)) PARTITION BY RANGE (TO_DAYS(created_at)) "
            "(PARTITION pall VALUES LESS THAN MAXVALUE)")
        for when in ("2026-11-27 10:00:00", "2026-11-27 10:00:01"):
            conn.exec_driver_sql("INSERT INTO shop_keys_by_day (scope, idem_key, created_at) "
                                 f"VALUES ('user-1', 'order-123', '{when}')")
        return conn.exec_driver_sql("SELECT COUNT(*) FROM shop_keys_by_day WHERE idem_key = 'order-123'").scalar_one()


def two_writers_at_one_version(engine: Engine, partitioning: str) -> int:
    """Two writers append version 2 of one stream, a second apart: how many rows did the table accept?

    `partitioning="by month"`: the events table partitioned by month needs created_at in every unique
    key, so UNIQUE(stream_id, version) becomes UNIQUE(stream_id, version, created_at), and both writers
    win: the unique index *was* notebook 04's optimistic concurrency check. `"by stream"`: partitioned by
    KEY(stream_id), the partition column is already in UNIQUE(stream_id, version), which stays whole.
    """
    if partitioning == "by month":
        unique, scheme = "UNIQUE KEY uq (stream_id, version, created_at)", (
            "PARTITION BY RANGE (TO_DAYS(created_at)) (PARTITION pall VALUES LESS THAN MAXVALUE)")
    elif partitioning == "by stream":
        unique, scheme = "UNIQUE KEY uq (stream_id, version)", "PARTITION BY KEY (stream_id) PARTITIONS 8"
    else:
        raise ValueError(f"partitioning is 'by month' or 'by stream', not {partitioning!r}")
    primary = "PRIMARY KEY (id, created_at)" if partitioning == "by month" else "PRIMARY KEY (id, stream_id)"
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS shop_events_versions")
        conn.exec_driver_sql(
            "CREATE TABLE shop_events_versions (id BIGINT NOT NULL AUTO_INCREMENT, stream_id VARCHAR(64) NOT NULL, "
            f"version INT NOT NULL, created_at DATETIME(6) NOT NULL, {primary}, {unique}) {scheme}")
    accepted = 0
    for when in ("2026-03-15 10:00:00", "2026-03-15 10:00:01"):  # both loaded version 1, both write 2
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO shop_events_versions (stream_id, version, created_at) "
                                     f"VALUES ('order-7', 2, '{when}')")
            accepted += 1
        except sa.exc.IntegrityError:
            pass  # the loser: ConcurrencyError in notebook 04's store
    return accepted
