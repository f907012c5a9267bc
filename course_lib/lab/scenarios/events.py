"""Measurements and demonstrations for notebook 04, kept here so the notebook's cells stay short."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from course_lib import failpoints
from course_lib.clock import median_ms
from course_lib.events.domain import Event, ItemAdded, Order, OrderCreated
from course_lib.events.projections import Projection, order_summary
from course_lib.events.repository import OrderRepository
from course_lib.events.store import EventStore, events_table, recorded_event
from course_lib.lab import race

# The points of the out-of-order commit scenario (its own code, so its own names).
INSERTED, READ_WHILE_OPEN = "inserted p, not committed", "read while p is open"

def stream_of(length: int) -> list[Event]:
    """OrderCreated then length - 1 item events: a long-lived aggregate."""
    return [OrderCreated("alice")] + [ItemAdded(f"sku-{i % 50}", 1, 100) for i in range(length - 1)]


def rehydration_ms(store: EventStore, lengths: Sequence[int], snapshot_every: Sequence[int | None],
                   repeat: int = 5) -> dict[str, list[float]]:
    """Median load time per stream length, without snapshots and with a snapshot every N events.

    The streams (`len-<n>`) are written once and reused, so a control can measure again on every move."""
    events = {n: stream_of(n) for n in lengths}
    for n, evs in events.items():
        if not store.load(f"len-{n}", after_version=n - 1):  # not written yet
            store.append(f"len-{n}", 0, evs)
    results: dict[str, list[float]] = {}
    for every in snapshot_every:
        repo = OrderRepository(store, snapshot_every=every)
        times = []
        for n in lengths:
            stream = f"len-{n}"
            if every:  # the snapshot a repository saving every `every` events would hold now
                at = n // every * every
                if at:
                    repo.write_snapshot(Order.replay(stream, events[n][:at]))
                else:
                    repo.forget_snapshot(stream)
            times.append(median_ms(functools.partial(repo.load, stream), repeat))
        results["no snapshots" if every is None else f"snapshot every {every}"] = times
    return results


def out_of_order_commit(store: EventStore) -> dict[str, object]:
    """A commits position p after B commits p + 1; a naive reader skips p, the Projection does not.

    MySQL/MariaDB only: SQLite lets one writer at a time, so positions always commit in order.
    """
    projected: list[str] = []
    projection = Projection(store, name="demo", gap_timeout_s=60,  # its "read model": the streams it applied
                            handlers=(lambda _conn, r, _event: projected.append(r.stream_id),))
    # Both readers start at the log's end.
    naive: dict[str, Any] = {"checkpoint": projection.start_from_head(), "seen": []}

    def naive_read() -> None:
        with store.reader.connect() as conn:
            rows = conn.execute(sa.select(events_table).where(events_table.c.position > naive["checkpoint"])
                                .order_by(events_table.c.position)).all()
        for row in rows:
            naive["seen"].append(recorded_event(row).stream_id)
            naive["checkpoint"] = row.position

    def slow_writer(_c: race.Caller) -> None:
        with store.engine.begin() as conn:  # takes position p, then stalls before COMMIT
            conn.execute(sa.insert(events_table).values(
                stream_id="slow", version=1, type="OrderCreated", schema_version=1, data='{"customer": "slow"}',
                metadata="{}", recorded_at=sa.func.now()))
            race.point(INSERTED)
        race.note("committed p")

    def fast_writer(_c: race.Caller) -> None:
        store.append("fast", 0, [OrderCreated("fast")])
        race.note("committed p+1")

    def readers(_c: race.Caller) -> None:
        naive_read()
        projection.catch_up(wait=False)  # in lock step nobody else moves while we wait: look and return
        race.point(READ_WHILE_OPEN)
        naive_read()
        projection.catch_up(wait=False)

    timeline = race.run([slow_writer, fast_writer, readers], schedule=[
        ("A", INSERTED), ("B", race.END), ("C", READ_WHILE_OPEN), ("A", race.END), ("C", race.END)])
    timeline.raise_first_error()
    return {"naive_saw": naive["seen"], "projection_saw": projected, "timeline": timeline}


def summaries(store: EventStore) -> dict[str, tuple]:
    """The order_summary read model as {order id: (customer, status, total, version)}."""
    with store.reader.connect() as conn:
        rows = conn.execute(sa.select(order_summary)).all()
    return {r.order_id: (r.customer, r.status, r.total, r.version) for r in rows}


def replayed_summary(repo: OrderRepository, order_id: str) -> tuple:
    """The same four facts computed by a full replay, to compare with the projection."""
    order = repo.load(order_id, use_snapshot=False)
    return (order.customer, order.status, order.total, order.version)


NAIVE_CHECKPOINT_SAVED = "naive: read model committed"


def naive_projection_counts_twice(store: EventStore, crash_after_batch: int = 1, batch_size: int = 8) -> dict[str, int]:
    """A projection done wrong: the read model and the checkpoint commit in two transactions.

    It counts events into `naive_counts`, committing each batch, then saves its checkpoint separately; a
    crash between the two (armed at NAIVE_CHECKPOINT_SAVED) leaves the batch counted but not checkpointed,
    so the restart counts it again. Returns the events in the log and the events it counted.
    """
    meta = sa.MetaData()
    counts = sa.Table("naive_counts", meta, sa.Column("name", sa.String(16), primary_key=True),
                      sa.Column("n", sa.Integer, nullable=False), sa.Column("position", sa.BigInteger, nullable=False))
    meta.drop_all(store.engine)
    meta.create_all(store.engine)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(counts).values(name="events", n=0, position=0))
        conn.execute(sa.insert(counts).values(name="checkpoint", n=0, position=0))

    def run() -> None:
        while True:
            with store.engine.connect() as conn:
                after = conn.execute(sa.select(counts.c.position).where(counts.c.name == "checkpoint")).scalar_one()
                rows = conn.execute(sa.select(events_table.c.position).where(events_table.c.position > after)
                                    .order_by(events_table.c.position).limit(batch_size)).scalars().all()
            if not rows:
                return
            with store.engine.begin() as conn:  # transaction 1: the read model
                conn.execute(sa.update(counts).where(counts.c.name == "events").values(n=counts.c.n + len(rows)))
            failpoints.point(NAIVE_CHECKPOINT_SAVED)
            with store.engine.begin() as conn:  # transaction 2: the checkpoint (too late if we died above)
                conn.execute(sa.update(counts).where(counts.c.name == "checkpoint").values(position=rows[-1]))

    try:
        with failpoints.crash_at(NAIVE_CHECKPOINT_SAVED, on_hit=crash_after_batch + 1):
            run()
    except failpoints.SimulatedCrash:
        run()  # the restart: from the last checkpoint it saved
    with store.engine.connect() as conn:
        counted = conn.execute(sa.select(counts.c.n).where(counts.c.name == "events")).scalar_one()
        in_log = conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one()
    meta.drop_all(store.engine)
    return {"events in the log": in_log, "events counted": counted}
