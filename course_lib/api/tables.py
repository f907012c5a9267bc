"""The API's tables in one reset: accounts and tokens, idempotency keys, orders, uploads, demo posts."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from course_lib.auth.schema import metadata as auth_metadata
from course_lib.backends.columns import recreate
from course_lib.idempotency import schema as idempotency_schema
from course_lib.orders.schema import metadata as orders_metadata
from course_lib.s3.schema import metadata as uploads_metadata
from course_lib.ui.posts import metadata as posts_metadata


def reset_tables(engine: Engine) -> None:
    """Drop and recreate every table the API uses (its data is gone: `course serve --fresh`, tests)."""
    idempotency_schema.reset(engine)
    recreate(engine, auth_metadata, orders_metadata, uploads_metadata, posts_metadata)
