"""Loading and saving Orders: snapshot + tail, commands with optimistic retries, snapshots every N.

Rehydrating replays every event of a stream; for long streams that grows linearly. A snapshot is
the state at some version, stored beside the stream; loading reads the latest snapshot and replays
only the tail after it. Snapshots are a cache, never the truth: one written under an older state
schema is ignored (and rewritten on the next save), because the events can always rebuild it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from course_lib.backends.sql_backend import short_lock_wait, upsert_if_newer
from course_lib.events.domain import Event, Order
from course_lib.events.store import ConcurrencyError, EventStore, Json, fetch, metadata
from course_lib.logs import get_logger
from course_lib.retries.policies import FullJitter

log = get_logger("events")

# Bump when Order's fields change shape: older snapshots are then ignored and rebuilt from events.
SNAPSHOT_SCHEMA = 1
# Seconds a snapshot write may wait for a row lock before it gives up (and the command succeeds anyway).
SNAPSHOT_LOCK_WAIT_S = 1
# A command that keeps losing the race to other writers gives up after this many reloads. With N
# writers on one stream the unluckiest can lose N - 1 times in a row even with fair backoff; 20
# covers the 16-writer test with room, and the jittered pause between reloads (notebook 03) keeps
# the writers from colliding in lock step.
MAX_CONCURRENCY_RETRIES = 20

snapshots_table = sa.Table(
    "snapshots", metadata,
    sa.Column("stream_id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("state", Json, nullable=False),
)

SNAPSHOT_SQL = "SELECT version, schema_version, state FROM snapshots WHERE stream_id = ?"

Command = Callable[[Order], list[Event]]


class OrderRepository:
    def __init__(self, store: EventStore, snapshot_every: int | None = None) -> None:
        if snapshot_every is not None and snapshot_every < 1:
            raise ValueError("snapshot_every must be a positive number of events, or None for no snapshots")
        self.store, self.snapshot_every = store, snapshot_every
        self.snapshot_failures = 0  # snapshots not written after their command committed (see save)

    def load(self, order_id: str, use_snapshot: bool = True) -> Order:
        """The current Order: latest usable snapshot plus the events after it, read in one transaction."""
        with self.store.reader.connect() as conn:
            start = self._snapshot(order_id, conn) if use_snapshot and self.snapshot_every else None
            tail = self.store.load(order_id, after_version=start.version if start else 0, conn=conn)
        order = Order.replay(order_id, [r.decode() for r in tail], start=start)
        if tail and order.version != tail[-1].version:
            raise ValueError(f"stream {order_id!r} has a hole in its versions: replayed {order.version} events up to "
                             f"version {tail[-1].version}")
        return order

    def execute(self, order_id: str, command: Command) -> Order:
        """Load, decide, append at the loaded version; on a conflict reload and decide again."""
        pauses = FullJitter(base_s=0.001, cap_s=0.05).delays()
        for _ in range(MAX_CONCURRENCY_RETRIES):
            order = self.load(order_id)
            try:
                return self.save(order, command(order))
            except ConcurrencyError:
                time.sleep(next(pauses))
        raise ConcurrencyError(order_id, -1)

    def save(self, order: Order, new_events: list[Event]) -> Order:
        """Append `new_events` after the version `order` was loaded at, apply them, snapshot if due."""
        before = order.version
        self.store.append(order.id, before, new_events)
        for event in new_events:
            order.apply(event)
        # The events are committed: the command succeeded, whatever happens to the snapshot, a cache
        # that the next save (or any load) can do without. It fails soft: a log line and a counter.
        try:
            self._maybe_snapshot(order, before)
        except SQLAlchemyError as exc:
            self.snapshot_failures += 1
            log.warning("snapshot skipped", stream_id=order.id, version=order.version, error=type(exc).__name__)
        return order

    def _snapshot(self, order_id: str, conn: Connection) -> Order | None:
        rows = fetch(conn, SNAPSHOT_SQL, (order_id,))
        if not rows or rows[0][1] != SNAPSHOT_SCHEMA:
            return None  # missing, or a stale shape: never trusted, the events rebuild it
        state = json.loads(rows[0][2])
        state["lines"] = {sku: tuple(v) for sku, v in state["lines"].items()}
        return Order(**state)

    def _maybe_snapshot(self, order: Order, before: int) -> None:
        n = self.snapshot_every
        if n and order.version // n != before // n:
            self.write_snapshot(order)

    def write_snapshot(self, order: Order) -> None:
        """Store `order` as its stream's snapshot, unless a newer one is there already (one per stream).

        Its lock wait is short (SNAPSHOT_LOCK_WAIT_S): a report holding the snapshot row must not make a
        command wait InnoDB's default 50 s for a cache write.
        """
        values = {"stream_id": order.id, "version": order.version, "schema_version": SNAPSHOT_SCHEMA,
                  "state": json.dumps(asdict(order), sort_keys=True)}
        engine = self.store.engine
        with engine.begin() as conn, short_lock_wait(conn, SNAPSHOT_LOCK_WAIT_S):
            conn.execute(upsert_if_newer(snapshots_table, values, ["schema_version", "state"], "stream_id",
                                         "version", engine.dialect.name))

    def forget_snapshot(self, order_id: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(sa.delete(snapshots_table).where(snapshots_table.c.stream_id == order_id))
