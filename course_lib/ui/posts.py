"""The demo posts behind the React Query page (notebook 08): a table, seed data, and the failure knobs.

Kept apart from the HTTP routes (course_lib.api.posts) so the API's table reset can create the table
without importing the web app.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib.backends.columns import Id, Timestamp
from course_lib.clock import utc_now

metadata = sa.MetaData()
posts = sa.Table(
    "posts", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)
TOPICS = ["idempotency keys", "retries and jitter", "event sourcing", "multipart uploads", "covering indexes",
          "keyset pagination", "fencing tokens", "API tokens", "short transactions", "optimistic updates"]


def seed_posts(engine: Engine, count: int = 12) -> None:
    now = utc_now()
    with engine.begin() as conn:
        conn.execute(sa.insert(posts), [{"title": f"Notes on {TOPICS[i % len(TOPICS)]} #{i + 1}",
                                         "body": "What broke, how we proved the fix.", "updated_at": now}
                                        for i in range(count)])


@dataclass
class PostControls:
    """What the demo server does next. Thread-safe enough for a lesson: each field is read once per request."""

    latency_ms: int = 0  # added to every GET and PUT
    fail_gets: int = 0  # the next N GET /api/posts answer 503
    fail_puts: int = 0  # the next N PUT /api/posts/{id} answer 500
    empty: bool = False  # GET /api/posts answers an empty list

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def take(self, field: str) -> bool:
        """Consume one injected failure of `field` ("fail_gets" or "fail_puts"), if any is left."""
        with self._lock:
            left = getattr(self, field)
            if left > 0:
                setattr(self, field, left - 1)
            return left > 0

    def snapshot(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}
