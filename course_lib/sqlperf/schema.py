"""The shop tables of the query-performance lesson (notebook 06), and the indexes the lesson adds.

Kept apart from the API's `orders` (prefix `shop_`) so the lessons can drop and reload them freely.
`note` makes rows realistically wide: with it, reading whole rows costs real I/O, which is what a
covering index saves.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib.backends.columns import Id, Timestamp, recreate

metadata = sa.MetaData()

users = sa.Table(
    "shop_users", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(120), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

orders = sa.Table(
    "shop_orders", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=False),
    sa.Column("user_id", Id, nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("total_cents", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("note", sa.String(200), nullable=False),
)

# The lesson's "after": each named for the query it serves.
INDEXES = {
    # covers "a user's recent orders": the WHERE, the ORDER BY and every selected column
    "ix_orders_user_recent_covering": ("shop_orders", ["user_id", "created_at", "status", "total_cents"]),
    # "orders with a status, newest first": equality column first, then the sort column
    "ix_orders_status_created": ("shop_orders", ["status", "created_at"]),
    # keyset pagination over everything, newest first, with the tie-breaker
    "ix_orders_created_id": ("shop_orders", ["created_at", "id"]),
}


def reset(engine: Engine) -> None:
    """Drop and recreate the shop tables, without the lesson's indexes."""
    recreate(engine, metadata)


def add_index(engine: Engine, name: str) -> None:
    """Create one of the lesson's indexes (if missing) and refresh the planner's statistics."""
    table, columns = INDEXES[name]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")
        else:  # MariaDB has IF NOT EXISTS here, MySQL does not: ask the catalogue instead
            exists = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
                f"AND table_name = '{table}' AND index_name = '{name}'").scalar_one()
            if not exists:
                conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({', '.join(columns)})")
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")  # SQLite's planner needs statistics to prefer the new index
        else:
            conn.exec_driver_sql(f"ANALYZE TABLE {table}")


def drop_index(engine: Engine, name: str) -> None:
    table, _ = INDEXES[name]
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
            return
        exists = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
            f"AND table_name = '{table}' AND index_name = '{name}'").scalar_one()
        if exists:
            conn.exec_driver_sql(f"DROP INDEX {name} ON {table}")
