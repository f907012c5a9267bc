"""Column types every topic shares, and the one test for "is this MySQL/MariaDB?".

Each type is portable: SQLite gets the plain SQLAlchemy type, MySQL/MariaDB the variant that
behaves as the lessons need (microsecond timestamps for short leases, MEDIUMBLOB/MEDIUMTEXT for
stored responses, snapshots and event payloads over 64 KiB).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

# SQLAlchemy names MariaDB's dialect "mariadb" when the URL says so and "mysql" otherwise.
MYSQL_DIALECTS = ("mysql", "mariadb")

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)  # microseconds: leases are short
Binary32 = sa.LargeBinary(32).with_variant(mysql.VARBINARY(32), *MYSQL_DIALECTS)
Blob = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), *MYSQL_DIALECTS)  # BLOB stops at 64 KiB
Json = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)  # TEXT stops at 64 KiB



class ExactString(sa.types.TypeDecorator[str]):
    """A string compared byte for byte on every backend, for keys and values derived from them.

    MySQL/MariaDB's default collations fold case (`Invoice-A` = `invoice-a`), and even their `_bin`
    collations ignore trailing spaces (PAD SPACE): a unique index on such a column makes two different
    idempotency keys one, and silently drops the second order. VARBINARY compares bytes. SQLite's
    default BINARY collation already does. Values are UTF-8 text in Python on both.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if is_mysql(dialect.name):  # up to 4 bytes a character in UTF-8
            return dialect.type_descriptor(mysql.VARBINARY(self.length * 4))
        return dialect.type_descriptor(sa.String(self.length))

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | bytes | None:
        return value.encode() if value is not None and is_mysql(dialect.name) else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        return bytes(value).decode() if isinstance(value, bytes | bytearray | memoryview) else value


# DDL waits for every open transaction that touched the table (MySQL's metadata lock), by default
# for a year. A forgotten open connection in a notebook should fail the cell in seconds instead.
DDL_LOCK_WAIT_S = 10


def is_mysql(where: Engine | Connection | str) -> bool:
    """True on MySQL or MariaDB: for an engine, a connection, or a dialect name."""
    name = where if isinstance(where, str) else where.dialect.name
    return name in MYSQL_DIALECTS


@contextmanager
def session_setting(conn: Connection, name: str, value: int) -> Iterator[None]:
    """On MySQL/MariaDB, set the session variable `name` for this block only, then put the old value back:
    a pooled connection must not carry one block's setting into its next user's transactions."""
    if not is_mysql(conn) or not name.isidentifier():
        yield
        return
    previous = conn.exec_driver_sql(f"SELECT @@SESSION.{name}").scalar_one()
    conn.exec_driver_sql(f"SET SESSION {name} = {int(value)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"SET SESSION {name} = {int(previous)}")


def recreate(engine: Engine, *metadatas: sa.MetaData) -> None:
    """Drop every table of `metadatas` (in reverse order, for foreign keys) and create them again, in one
    transaction whose DDL gives up after DDL_LOCK_WAIT_S instead of queueing behind a forgotten one."""
    with engine.begin() as conn, session_setting(conn, "lock_wait_timeout", DDL_LOCK_WAIT_S):
        for tables in reversed(metadatas):
            tables.drop_all(conn)
        for tables in metadatas:
            tables.create_all(conn)
