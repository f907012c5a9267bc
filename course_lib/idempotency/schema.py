"""The tables of the idempotency lesson, portable between MySQL/MariaDB and SQLite.

* `api_idempotency`: the seed design, exactly as the course's source notes give it.
* `idempotency_keys`: the claim-first store (scope, key, fingerprint, status, lease, response).
* `charges`: the work being protected. Each execution inserts one row, so counting rows counts
  executions. `request_ref` records which client request caused it (for the demos' counts);
  (`idem_scope`, `idem_key`) is the unique index through which the work itself "carries the key".
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib.backends.columns import Binary32, Blob, ExactString, Id, Timestamp, recreate

metadata = sa.MetaData()

api_idempotency = sa.Table(
    "api_idempotency", metadata,
    sa.Column("key_hash", Binary32, primary_key=True),
    sa.Column("response", Blob),
    sa.Column("created_at", Timestamp, server_default=sa.func.current_timestamp()),
)

idempotency_keys = sa.Table(
    "idempotency_keys", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    # Keys compare byte for byte (ExactString): `Invoice-A`, `invoice-a` and `invoice-a ` are three keys.
    sa.Column("scope", ExactString(64), nullable=False),  # who: the authenticated user
    sa.Column("idem_key", ExactString(255), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # in_progress | completed
    sa.Column("holder", sa.String(32)),  # the token of the attempt that holds the claim: only it may release
    sa.Column("locked_until", Timestamp),  # the lease of the worker that holds the claim
    sa.Column("response_status", sa.Integer),
    sa.Column("response_headers", sa.Text),
    sa.Column("response_body", Blob),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False, index=True),  # batched cleanup scans this
    sa.UniqueConstraint("scope", "idem_key", name="uq_idempotency_scope_key"),
)

charges = sa.Table(
    "charges", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("amount", sa.Integer, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("request_ref", ExactString(320), nullable=False, index=True),
    sa.Column("idem_scope", ExactString(64)),
    sa.Column("idem_key", ExactString(255)),
    sa.UniqueConstraint("idem_scope", "idem_key", name="uq_charges_idempotency"),
)


def reset(engine: Engine) -> None:
    """Drop and recreate the lesson's tables: every demonstration starts from empty."""
    recreate(engine, metadata)


def row_count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
