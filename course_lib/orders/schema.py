"""The tables of the create-order case study (notebook 02).

* `orders`: one row per order, unique on (user_id, idem_key). That unique index is what the
  order *upsert* leans on: a retry that reaches the write again finds the first order instead of
  adding a second, whatever happened to the locks in front of it.
* `inventory`: the resource of the fencing lesson; `fence` is the newest fencing token whose
  write it accepted.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib.backends.columns import ExactString, Id, Timestamp, recreate

metadata = sa.MetaData()

orders = sa.Table(
    "orders", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("user_id", Id, nullable=False),
    sa.Column("idem_key", ExactString(255), nullable=False),  # byte for byte, like the key's record
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total_cents", sa.BigInteger, nullable=False),
    sa.Column("items", sa.Text, nullable=False),  # JSON list of {sku, quantity, unit_price_cents}
    # The request that created the order: a key reused with another payload, even after its idempotency
    # record expired, is refused instead of answered with this order.
    sa.Column("request_fingerprint", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("user_id", "idem_key", name="uq_orders_user_key"),
    sa.Index("ix_orders_user_id_id", "user_id", "id"),  # GET /api/orders: WHERE user_id = ? AND id < ? ORDER BY id
)

inventory = sa.Table(
    "inventory", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("sku", sa.String(32), nullable=False, unique=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("fence", sa.BigInteger, nullable=False, server_default="0"),
)


def reset(engine: Engine) -> None:
    """Drop and recreate the orders and inventory tables (the whole API's: `api.tables.reset_tables`)."""
    recreate(engine, metadata)
