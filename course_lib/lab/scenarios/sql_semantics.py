"""The MySQL/MariaDB behaviour an idempotency store leans on, measured rather than recited.

* What "affected rows" means for INSERT, INSERT IGNORE and INSERT ... ON DUPLICATE KEY UPDATE.
* The deadlock that "SELECT ... FOR UPDATE, then INSERT if missing" causes under REPEATABLE READ:
  both transactions take a gap lock on the missing key (gap locks do not conflict with each
  other), then each INSERT waits for the other's gap lock. InnoDB kills one. This is why the
  claim-first store INSERTs first and reads afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from course_lib.backends.columns import ExactString, is_mysql
from course_lib.backends.sql_backend import insert_ignore, upsert
from course_lib.lab import race

_meta = sa.MetaData()
scratch = sa.Table("semantics_scratch", _meta, sa.Column("k", sa.Integer, primary_key=True),
                   sa.Column("v", sa.String(20), nullable=False))


@dataclass(frozen=True)
class Collation:
    column: str
    sent: list[str]
    kept: list[str]  # the distinct keys the unique index let in


# Three keys a client means as three operations: they differ by case, and by a trailing space.
LOOK_ALIKE_KEYS = ["Invoice-A", "invoice-a", "invoice-a "]


def collation_pitfall(engine: Engine) -> list[Collation]:
    """Insert three look-alike keys under a unique index, once per column type, and see what survives.

    MySQL/MariaDB only (SQLite compares strings byte for byte by default). A VARCHAR in the default
    utf8mb4 collation folds case and ignores trailing spaces, so INSERT IGNORE drops two of the three:
    in an idempotency table that is two distinct orders answered with the first one's.
    """
    meta = sa.MetaData()
    columns = {"VARCHAR(255), default collation": sa.String(255), "VARBINARY (ExactString)": ExactString(255)}
    tables = {label: sa.Table(f"collation_demo_{i}", meta, sa.Column("idem_key", column, primary_key=True))
              for i, (label, column) in enumerate(columns.items())}
    meta.drop_all(engine)
    meta.create_all(engine)
    out = []
    for label, table in tables.items():
        with engine.begin() as conn:
            for key in LOOK_ALIKE_KEYS:
                conn.execute(insert_ignore(table, {"idem_key": key}, engine.dialect.name))
            kept = conn.execute(sa.select(table.c.idem_key).order_by(table.c.idem_key)).scalars().all()
        out.append(Collation(label, LOOK_ALIKE_KEYS, [str(k) for k in kept]))
    meta.drop_all(engine)
    return out


@dataclass(frozen=True)
class Outcome:
    statement: str
    affected_rows: int | None
    error: str | None
    meaning: str


def _fresh(engine: Engine) -> None:
    _meta.drop_all(engine)
    _meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(scratch), [{"k": 10, "v": "ten"}, {"k": 20, "v": "twenty"}])


def affected_rows(engine: Engine) -> list[Outcome]:
    """Run each insert flavour against an existing or new key and record what the server reports."""
    _fresh(engine)
    d = engine.dialect.name
    steps = [
        ("INSERT k=30 (new)", sa.insert(scratch).values(k=30, v="thirty"), "1: inserted"),
        ("INSERT k=30 again", sa.insert(scratch).values(k=30, v="thirty"),
         "duplicate key error: the loser learns it lost"),
        ("INSERT IGNORE k=30", insert_ignore(scratch, {"k": 30, "v": "x"}, d),
         "0: nothing inserted, error turned into a warning"),
        ("UPSERT k=40 (new)", upsert(scratch, {"k": 40, "v": "forty"}, ["v"], ["k"], d), "1: inserted"),
        ("UPSERT k=40, new value", upsert(scratch, {"k": 40, "v": "FORTY"}, ["v"], ["k"], d),
         "2 on MySQL: an existing row was updated (SQLite says 1)"),
        ("UPSERT k=40, same value", upsert(scratch, {"k": 40, "v": "FORTY"}, ["v"], ["k"], d),
         "MySQL says 0 here, but SQLAlchemy connects with CLIENT_FOUND_ROWS, so 'found' rows count: 1"),
    ]
    out = []
    for label, stmt, meaning in steps:
        try:
            with engine.begin() as conn:
                out.append(Outcome(label, conn.execute(stmt).rowcount, None, meaning))
        except IntegrityError as exc:
            code = getattr(exc.orig, "args", [None])[0]
            out.append(Outcome(label, None, type(exc.orig).__name__ + (f" {code}" if isinstance(code, int) else ""),
                               meaning))
    return out


def gap_lock_deadlock(engine: Engine) -> race.RaceResult:
    """Two callers: SELECT ... FOR UPDATE a missing key, then INSERT it. MySQL/MariaDB only.

    In lock step: A and B both lock the gap; A's INSERT blocks on B's gap lock; B's INSERT would
    wait for A's: a cycle, which InnoDB breaks by rolling B back (error 1213).
    """
    if not is_mysql(engine):
        raise NotImplementedError("gap locks are InnoDB's; SQLite serialises writers instead")
    _fresh(engine)

    def check_then_insert(caller: race.Caller) -> str:
        with engine.connect() as conn, conn.begin():
            found = conn.execute(sa.select(scratch).where(scratch.c.k == 15).with_for_update()).first()
            race.point("SELECT 15 FOR UPDATE: none")
            if found is None:
                try:
                    conn.execute(sa.insert(scratch).values(k=15, v=caller.name))
                except OperationalError as exc:
                    race.note(f"deadlock victim ({getattr(exc.orig, 'args', ['?'])[0]})")
                    raise
                race.point("INSERT 15")
        return "inserted"

    return race.run(check_then_insert, callers=2, schedule="round_robin")


def ignore_swallows_bad_values(engine: Engine) -> dict[str, str | None]:
    """What INSERT IGNORE and INSERT ... ON DUPLICATE KEY UPDATE do with a value too long for its column.

    MySQL/MariaDB only. In strict mode a plain INSERT refuses it; IGNORE turns the error into a warning and
    stores the value cut to fit. The upsert has no IGNORE, so the same value is refused.
    """
    meta = sa.MetaData()
    table = sa.Table("ignore_demo", meta, sa.Column("k", sa.Integer, primary_key=True),
                     sa.Column("currency", sa.String(3), nullable=False))
    meta.drop_all(engine)
    meta.create_all(engine)
    outcome: dict[str, str | None] = {}
    with engine.begin() as conn:
        conn.execute(insert_ignore(table, {"k": 1, "currency": "EURO-DOLLAR"}, engine.dialect.name))
        outcome["INSERT IGNORE stored"] = conn.execute(sa.select(table.c.currency)).scalar_one_or_none()
    try:
        with engine.begin() as conn:
            conn.execute(upsert(table, {"k": 2, "currency": "EURO-DOLLAR"}, ["currency"], ["k"], engine.dialect.name))
        outcome["upsert"] = "stored"
    except (OperationalError, sa.exc.DataError) as exc:
        outcome["upsert"] = f"refused ({getattr(exc.orig, 'args', ['?'])[0]})"
    meta.drop_all(engine)
    return outcome
