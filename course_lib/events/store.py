"""An append-only event store on SQL, with optimistic concurrency from a unique index.

Each event row has a global `position` (for readers that follow every stream), a `stream_id` and a
per-stream `version`. UNIQUE(stream_id, version) is the whole concurrency story: two writers that
both loaded version 7 both try to insert version 8, and the index lets exactly one of them in. The
loser gets ConcurrencyError, reloads and decides again. Several events append in one transaction,
so a command's events are stored all or none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from course_lib.backends.columns import Json, Timestamp
from course_lib.backends.sql_backend import reader
from course_lib.clock import utc_now
from course_lib.events.domain import Event, decode

metadata = sa.MetaData()
events_table = sa.Table(
    "events", metadata,
    sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("stream_id", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("data", Json, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
)


class ConcurrencyError(Exception):
    """Another writer appended to the stream first; reload it and decide again."""

    def __init__(self, stream_id: str, expected_version: int, current_version: int | None = None) -> None:
        if current_version is not None and current_version < expected_version:
            message = (f"stream {stream_id!r} is at version {current_version}, not {expected_version}: append "
                       "after the version you loaded, never ahead of it")
        else:
            message = (f"stream {stream_id!r} moved past version {expected_version} while you decided; "
                       "reload it and retry the command")
        super().__init__(message)
        self.stream_id, self.expected_version = stream_id, expected_version


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime

    def decode(self) -> Event:
        return decode(self.type, self.schema_version, self.data)


class EventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = reader(engine)  # loads never take SQLite's write lock

    def create(self) -> None:
        metadata.create_all(self.engine)

    def reset(self) -> None:
        metadata.drop_all(self.engine)
        metadata.create_all(self.engine)

    def append(self, stream_id: str, expected_version: int, new_events: Sequence[Event],
               meta: dict[str, Any] | None = None) -> int:
        """Append after `expected_version`, all or nothing; return the stream's new version.

        The stream's current version must *equal* `expected_version` (as in EventStoreDB and the
        eventsourcing library): behind it, another writer got there first (the unique index also says
        so); ahead of it, the caller decided on a state that never existed, and its events would leave
        a hole in the versions that a later append fills out of order.
        """
        now = utc_now().strftime("%Y-%m-%d %H:%M:%S.%f")  # the text both SQLite and MySQL DATETIME(6) store
        meta_json = json.dumps(meta or {}, sort_keys=True)
        rows = [(stream_id, expected_version + i, e.type_name, e.schema_version,
                 json.dumps(e.to_data(), sort_keys=True), meta_json, now)
                for i, e in enumerate(new_events, start=1)]
        try:
            with self.engine.begin() as conn:
                current = fetch(conn, VERSION_SQL, (stream_id,))[0][0] or 0
                if current != expected_version:
                    raise ConcurrencyError(stream_id, expected_version, current)
                conn.exec_driver_sql(driver_sql(conn, APPEND_SQL), rows)
        except IntegrityError:
            raise ConcurrencyError(stream_id, expected_version) from None
        return expected_version + len(rows)

    def load(self, stream_id: str, after_version: int = 0, to_version: int | None = None,
             as_of: datetime | None = None, conn: Connection | None = None) -> list[RecordedEvent]:
        """A stream's events in version order, optionally only up to a version or a moment (time travel).

        Pass `conn` to read inside a transaction you already hold (snapshot + tail in one go).
        """
        if conn is None:
            with self.reader.connect() as own:
                return self.load(stream_id, after_version, to_version, as_of, own)
        if to_version is None and as_of is None:  # the hot path of every rehydration
            return [recorded_event(row) for row in fetch(conn, TAIL_SQL, (stream_id, after_version))]
        t = events_table
        query = sa.select(t).where(t.c.stream_id == stream_id, t.c.version > after_version).order_by(t.c.version)
        if to_version is not None:
            query = query.where(t.c.version <= to_version)
        if as_of is not None:
            # Cut at a version, not at each event's own timestamp: writers' clocks differ, so v3 can carry
            # an earlier time than v2. The stream as of `as_of` ends before its first event recorded later.
            first_later = conn.execute(sa.select(sa.func.min(t.c.version)).where(
                t.c.stream_id == stream_id, t.c.recorded_at > as_of)).scalar()
            if first_later is not None:
                query = query.where(t.c.version < first_later)
        return [recorded_event(row) for row in conn.execute(query)]


# Every save and every rehydration runs these; as plain driver SQL they skip SQLAlchemy's statement
# building and cache lookup, which cost more than the query itself on SQLite (docs/benchmarks.md).
APPEND_SQL = ("INSERT INTO events (stream_id, version, type, schema_version, data, metadata, recorded_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)")
VERSION_SQL = "SELECT MAX(version) FROM events WHERE stream_id = ?"
TAIL_SQL = ("SELECT position, stream_id, version, type, schema_version, data, metadata, recorded_at "
            "FROM events WHERE stream_id = ? AND version > ? ORDER BY version")


def driver_sql(conn: Connection, sql: str) -> str:
    """`sql` written with ? placeholders, in the driver's own style (PyMySQL wants %s)."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def fetch(conn: Connection, sql: str, params: tuple) -> list[tuple]:
    """Rows as plain tuples from the driver's own cursor, inside `conn`'s transaction.

    For the two reads every rehydration makes: SQLAlchemy's result objects cost more than the
    query itself here (docs/benchmarks.md, "The event store's two hot statements").
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(driver_sql(conn, sql), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def recorded_event(row: Sequence[Any]) -> RecordedEvent:
    """A row of the events table (in column order) as a RecordedEvent; SQLite's driver returns times as text."""
    position, stream_id, version, type_name, schema_version, data, meta, at = row
    at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    return RecordedEvent(position, stream_id, version, type_name, schema_version, json.loads(data), json.loads(meta),
                         at)
