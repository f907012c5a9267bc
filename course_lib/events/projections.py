"""Read models fed from the event log: order summaries (with their lines) and daily revenue.

A catch-up reader follows the global `position` from its checkpoint. Two hazards, two guards:

* A crash in the middle of a batch: the read-model changes and the new checkpoint commit in one
  transaction, so a crash rolls both back and the batch is read again; nothing is counted twice.
  The checkpoint row is locked first, so two readers of one projection cannot both apply a batch.
* Positions that commit out of order: an auto-increment position is taken at INSERT, but the
  transaction that took 10 may commit after the one that took 11. A reader that saw 11 and moved its
  checkpoint past 10 would skip 10 forever. So the reader stops at the first gap and comes back for
  it, as long as the evidence says it can still fill: a writing transaction that was already open
  when the gap was first seen (information_schema.innodb_trx) may hold it. Once none is left, the
  gap is a hole for good (a rolled-back insert, or auto_increment_increment > 1) and is passed at
  once. A timer alone would both skip a slow commit and stall on every permanent hole.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from course_lib import failpoints
from course_lib.backends.columns import is_mysql
from course_lib.events.domain import Cancelled, Event, ItemAdded, ItemRemoved, OrderCreated, Paid, Shipped
from course_lib.events.store import EventStore, RecordedEvent, events_table, metadata, recorded_event

# The failpoint reached after each event is applied, inside the batch's transaction: a lesson crashes
# a projection mid-batch there (`failpoints.crash_at(EVENT_APPLIED, on_hit=13)`).
EVENT_APPLIED = "applied"
# Off by default: how long to wait at a gap that may still fill before passing it anyway. A cap trades
# a rare skipped event for progress when a writer leaves a transaction open for a very long time.
DEFAULT_GAP_TIMEOUT_S: float | None = None
# How often a waiting reader looks again at a gap.
GAP_POLL_S = 0.05

checkpoints = sa.Table(
    "projection_checkpoints", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)
order_summary = sa.Table(
    "order_summary", metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("customer", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("paid", sa.BigInteger, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
order_lines = sa.Table(
    "order_lines", metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", sa.BigInteger, nullable=False),
)
daily_revenue = sa.Table(
    "daily_revenue", metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("revenue", sa.BigInteger, nullable=False),
)
READ_MODELS = (order_summary, order_lines, daily_revenue)


def apply_summary(conn: Connection, r: RecordedEvent, event: Event) -> None:
    s, lines = order_summary, order_lines
    order = s.c.order_id == r.stream_id
    line = sa.and_(lines.c.order_id == r.stream_id, lines.c.sku == getattr(event, "sku", None))
    match event:
        case OrderCreated(customer=customer):
            conn.execute(sa.insert(s).values(order_id=r.stream_id, customer=customer, status="open", total=0,
                                             paid=0, version=0))
        case ItemAdded(sku=sku, quantity=q, unit_price=p):
            if not conn.execute(sa.update(lines).where(line).values(quantity=lines.c.quantity + q)).rowcount:
                conn.execute(sa.insert(lines).values(order_id=r.stream_id, sku=sku, quantity=q, unit_price=p))
            conn.execute(sa.update(s).where(order).values(total=s.c.total + q * p))
        case ItemRemoved(quantity=q):
            price = conn.execute(sa.select(lines.c.unit_price).where(line)).scalar_one()
            conn.execute(sa.update(lines).where(line).values(quantity=lines.c.quantity - q))
            conn.execute(sa.delete(lines).where(line, lines.c.quantity <= 0))
            conn.execute(sa.update(s).where(order).values(total=s.c.total - q * price))
        case Paid(amount=amount):
            conn.execute(sa.update(s).where(order).values(status="paid", paid=amount))
        case Shipped():
            conn.execute(sa.update(s).where(order).values(status="shipped"))
        case Cancelled():
            conn.execute(sa.update(s).where(order).values(status="cancelled"))
    conn.execute(sa.update(s).where(order).values(version=r.version))


def apply_revenue(conn: Connection, r: RecordedEvent, event: Event) -> None:
    """Payments count on the day they happen; cancelling a paid order refunds on its day."""
    if isinstance(event, Paid):
        amount = event.amount
    elif isinstance(event, Cancelled):
        amount = -conn.execute(sa.select(order_summary.c.paid)
                               .where(order_summary.c.order_id == r.stream_id)).scalar_one()
    else:
        return
    day = r.recorded_at.date().isoformat()
    t = daily_revenue
    if not conn.execute(sa.update(t).where(t.c.day == day).values(revenue=t.c.revenue + amount)).rowcount:
        conn.execute(sa.insert(t).values(day=day, revenue=amount))


Handler = Callable[[Connection, RecordedEvent, Event], None]


class Projection:
    """Catch-up reader + handlers. `catch_up()` applies everything it safely can and returns."""

    def __init__(self, store: EventStore, name: str = "orders", handlers: tuple[Handler, ...] = (
            apply_revenue, apply_summary), batch_size: int = 100,
                 gap_timeout_s: float | None = DEFAULT_GAP_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # Revenue runs first: a cancellation's refund reads the amount paid before the summary changes.
        self.store, self.name, self.handlers = store, name, handlers
        self.batch_size, self.gap_timeout_s, self.clock = batch_size, gap_timeout_s, clock
        self._gap_seen: dict[int, tuple[float, Any]] = {}  # position -> (our clock, the database's NOW())

    def checkpoint(self) -> int:
        with self.store.engine.connect() as conn:
            return conn.execute(sa.select(checkpoints.c.position).where(checkpoints.c.name == self.name)
                                ).scalar_one_or_none() or 0

    def lag(self) -> int:
        """How many positions the read model is behind the log."""
        with self.store.engine.connect() as conn:
            head = conn.execute(sa.select(sa.func.max(events_table.c.position))).scalar_one() or 0
        return head - self.checkpoint()

    def catch_up(self, wait: bool = True) -> int:
        """Apply batches until the log is read; return how many events were applied.

        At a gap that may still fill, `wait=True` polls until it fills or is judged a hole (at most
        `gap_timeout_s`); `wait=False` returns at once and leaves it for the next call.
        """
        applied = 0
        while True:
            with self.store.engine.begin() as conn:
                position = self._lock_checkpoint(conn)
                batch, at_gap = self._contiguous(conn, position)
                for r in batch:
                    event = r.decode()
                    for handle in self.handlers:
                        handle(conn, r, event)
                    applied += 1
                    failpoints.point(EVENT_APPLIED, str(r.position))
                if batch:
                    conn.execute(sa.update(checkpoints).where(checkpoints.c.name == self.name)
                                 .values(position=batch[-1].position))
            if at_gap and wait:
                time.sleep(GAP_POLL_S)
            elif len(batch) < self.batch_size:
                return applied

    def start_from_head(self) -> int:
        """Start (or move) this projection at the log's current end: it will apply only new events."""
        with self.store.engine.begin() as conn:
            head = conn.execute(sa.select(sa.func.max(events_table.c.position))).scalar_one() or 0
            conn.execute(sa.delete(checkpoints).where(checkpoints.c.name == self.name))
            conn.execute(sa.insert(checkpoints).values(name=self.name, position=head))
        return head

    def rebuild(self) -> int:
        """Empty the read models and the checkpoint, then replay the whole log."""
        with self.store.engine.begin() as conn:
            for table in READ_MODELS:
                conn.execute(sa.delete(table))
            conn.execute(sa.delete(checkpoints).where(checkpoints.c.name == self.name))
        return self.catch_up()

    def _lock_checkpoint(self, conn: Connection) -> int:
        row = conn.execute(sa.select(checkpoints.c.position).where(checkpoints.c.name == self.name)
                           .with_for_update()).first()
        if row is None:
            conn.execute(sa.insert(checkpoints).values(name=self.name, position=0))
            return 0
        return row.position

    def _may_still_fill(self, conn: Connection, position: int) -> bool:
        """Whether a transaction that could hold `position` is still open (the gap may fill), from evidence.

        SQLite runs one writer at a time and commits positions in order: a gap there never fills. On
        MySQL/MariaDB a position is taken at INSERT, so only a writing transaction already open when the
        gap was first seen can fill it; when none is left, it is a hole for good.
        """
        if not is_mysql(conn):
            return False
        if position not in self._gap_seen:
            self._gap_seen[position] = (self.clock(), conn.exec_driver_sql("SELECT NOW()").scalar_one())
        waited, seen_at = self.clock() - self._gap_seen[position][0], self._gap_seen[position][1]
        if self.gap_timeout_s is not None and waited >= self.gap_timeout_s:
            return False
        open_writers = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_started <= %s "
            "AND trx_rows_modified > 0 AND trx_mysql_thread_id <> CONNECTION_ID()", (seen_at,)).scalar_one()
        return bool(open_writers)

    def _contiguous(self, conn: Connection, after: int) -> tuple[list[RecordedEvent], bool]:
        """The next events after `after`, cut at the first gap that may still fill (and whether it was)."""
        rows = conn.execute(sa.select(events_table).where(events_table.c.position > after)
                            .order_by(events_table.c.position).limit(self.batch_size)).all()
        batch: list[RecordedEvent] = []
        expected = after + 1
        for row in rows:
            if row.position != expected and self._may_still_fill(conn, expected):
                failpoints.note(f"waiting for position {expected}")
                return batch, True  # an earlier transaction may still commit it
            batch.append(recorded_event(row))
            expected = row.position + 1
        return batch, False
