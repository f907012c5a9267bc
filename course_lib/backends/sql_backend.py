"""The SQL backend: a SQLAlchemy 2 engine on MySQL/MariaDB, or on SQLite when no server is around.

Resolution (docs/architecture.md, "Backends"): an explicit `COURSE_DATABASE_URL`; else a server on 127.0.0.1:3306;
else a SQLite file under `build/`. Lessons never branch on the dialect themselves: the few
statements that differ (upserts, INSERT IGNORE, EXPLAIN) are built here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from course_lib.backends import settings
from course_lib.backends.columns import is_mysql, session_setting
from course_lib.backends.errors import BackendUnavailable

# A connect timeout long enough for a busy laptop, short enough that a wrong host fails fast.
CONNECT_TIMEOUT_S = 5
# Race lessons release up to 64 callers at once, and the API's thread pool runs 40 requests at a
# time; each needs its own connection or the pool, not the database, serialises them. Connections
# past POOL_SIZE are closed when returned, so a pool smaller than the usual concurrency churns: it
# reconnects on every checkout (docs/benchmarks.md, "The SQL connection pool").
POOL_SIZE, MAX_OVERFLOW = 64, 16
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# SQLite allows one writer at a time; waiting (rather than failing) on a locked file keeps the
# embedded fallback usable for concurrent lessons, just slower.
SQLITE_BUSY_TIMEOUT_S = 30

START_MARIADB = "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
INSTALL_HINT = (
    "start MySQL/MariaDB (`sudo apt-get install -y mariadb-server` then `" + START_MARIADB + "`, "
    "or `brew install mariadb && brew services start mariadb`)"
)


@dataclass
class SqlBackend:
    engine: Engine
    embedded: bool
    server: str  # "MariaDB", "MySQL" or "SQLite"
    version: str
    url: str  # masked, safe to print
    note: str = ""  # why a fallback was chosen, when it was

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def resolve(cfg: settings.Settings | None = None) -> SqlBackend:
    """Pick the SQL backend in the resolution order of docs/architecture.md ("Backends"); raise
    BackendUnavailable if none fits."""
    cfg = cfg or settings.current()
    if cfg.embedded_only:
        return _sqlite(cfg)
    if cfg.database_url:
        return connect(cfg.database_url, variable=settings.DATABASE_URL)
    default = make_url(cfg.mysql_default_url)
    if settings.port_open(default.host or "127.0.0.1", default.port or 3306):
        try:
            return connect(cfg.mysql_default_url, variable=None)
        except BackendUnavailable as exc:
            if cfg.require_services:
                raise
            fallback = _sqlite(cfg)
            fallback.note = f"a server on 127.0.0.1:3306 did not let us in ({exc.what_failed}); set COURSE_DATABASE_URL"
            return fallback
    elif cfg.require_services:
        raise BackendUnavailable(
            "SQL", "COURSE_REQUIRE_SERVICES=1 but nothing listens on 127.0.0.1:3306",
            INSTALL_HINT + ", or set COURSE_DATABASE_URL, or unset COURSE_REQUIRE_SERVICES",
            variable=settings.REQUIRE_SERVICES,
        )
    return _sqlite(cfg)


def connect(raw_url: str, variable: str | None = None) -> SqlBackend:
    """An engine on the server at `raw_url`, creating its database if missing; errors name `variable`."""
    masked = settings.mask_url(raw_url)
    try:
        url = make_url(raw_url)
    except ArgumentError:
        raise BackendUnavailable(
            "SQL", f"{masked!r} is not a database URL",
            "use the form mysql+pymysql://USER:PASSWORD@HOST:3306/course_lab", variable,
        ) from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, masked)
    if url.get_backend_name() not in {"mysql", "mariadb"}:
        raise BackendUnavailable(
            "SQL", f"unsupported database {url.get_backend_name()!r} in {masked}",
            "the course runs on MySQL/MariaDB (mysql+pymysql://...) or SQLite (sqlite:///path)", variable,
        )
    try:
        _create_database_if_missing(url)
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if url.host in LOOPBACK_HOSTS and "ssl" not in url.query:
            # PyMySQL >= 1.1.2 tries TLS by default and builds an SSL context (loading the system's CA
            # certificates, ~5 ms) per connection; on loopback TLS protects nothing.
            connect_args["ssl_disabled"] = True
        engine = sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW, pool_pre_ping=True,
                                  connect_args=connect_args, pool_reset_on_return=None)
        _reset_only_open_transactions(engine)
        with engine.connect() as conn:
            version = conn.execute(sa.text("SELECT VERSION()")).scalar_one()
    except NoSuchModuleError:
        raise BackendUnavailable(
            "SQL", f"unknown driver {url.drivername!r} in {masked}",
            "use mysql+pymysql:// (PyMySQL is installed with the course)", variable,
        ) from None
    except ModuleNotFoundError as exc:
        raise BackendUnavailable(
            "SQL", f"the driver for {url.drivername!r} is not installed ({exc.name})",
            "use mysql+pymysql:// (PyMySQL is installed with the course)", variable,
        ) from None
    except OperationalError as exc:
        raise BackendUnavailable("SQL", _explain_operational(exc, url), _fix_for(exc, variable), variable) from None
    server = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    return SqlBackend(engine=engine, embedded=False, server=server, version=version.split("-")[0], url=masked)


def _create_database_if_missing(url: URL) -> None:
    """Lessons expect `course_lab` (or a learner's `course_lab_<name>`) to exist; a fresh server does not have it."""
    if not url.database:
        return
    server_url = URL.create(url.drivername, url.username, url.password, url.host, url.port, query=url.query)
    engine = sa.create_engine(server_url, poolclass=sa.pool.NullPool,
                              connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{url.database}`"))
    finally:
        engine.dispose()


# The server's status flag "a transaction is open", sent in every OK and EOF packet (MySQL protocol).
SERVER_STATUS_IN_TRANS = 0x0001
_ENDED = "course_transaction_ended"


def _reset_only_open_transactions(engine: Engine) -> None:
    """The pool's reset of a returned connection, without the ROLLBACK that follows every COMMIT.

    SQLAlchemy's default sends ROLLBACK whenever a connection goes back to the pool, even right after
    the transaction committed: one more round trip per transaction, for nothing. This keeps the reset
    (its documented custom-reset hook: `pool_reset_on_return=None` plus a "reset" listener) but skips
    it when SQLAlchemy saw the transaction end (COMMIT or ROLLBACK) and the server reports none open.
    A connection used outside a transaction SQLAlchemy tracked is always rolled back.
    """

    def ended(flag: bool) -> Callable[[Connection], None]:
        def mark(conn: Connection) -> None:
            conn.connection.info[_ENDED] = flag
        return mark

    sa.event.listen(engine, "begin", ended(False))
    sa.event.listen(engine, "commit", ended(True))
    sa.event.listen(engine, "rollback", ended(True))
    sa.event.listen(engine, "checkout", lambda _dbapi, record, _proxy: record.info.__setitem__(_ENDED, False))

    def reset(dbapi_conn: Any, record: Any, state: Any) -> None:
        if state.terminate_only or state.transaction_was_reset:
            return
        in_transaction = getattr(dbapi_conn, "server_status", None) is None or dbapi_conn.server_status & \
            SERVER_STATUS_IN_TRANS
        if in_transaction or not record.info.get(_ENDED):
            dbapi_conn.rollback()

    sa.event.listen(engine, "reset", reset)


def _mysql_code(exc: OperationalError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _explain_operational(exc: OperationalError, url: URL) -> str:
    code = _mysql_code(exc)
    where = f"{url.host}:{url.port or 3306}"
    if "Name or service not known" in str(exc) or "nodename nor servname" in str(exc):
        return f"unknown host {url.host!r}"
    if code == 1045:
        return f"the server at {where} refused user {url.username!r} (wrong user or password)"
    if code in {2003, 2002}:
        return f"nothing answers at {where}"
    if code in {1044, 1142}:
        return f"user {url.username!r} may not create or use database {url.database!r}"
    return f"could not connect to {where}: {exc.orig}"


def _fix_for(exc: OperationalError, variable: str | None) -> str:
    code = _mysql_code(exc)
    target = variable or "COURSE_DATABASE_URL"
    if code == 1045:
        return f"put the right user and password in {target} (mysql+pymysql://USER:PASSWORD@HOST:PORT/course_lab)"
    if code in {1044, 1142}:
        return f"grant the user CREATE on the database, or point {target} at a database it may use"
    return f"check host and port in {target}, or {INSTALL_HINT}, or unset {target} to use the embedded SQLite fallback"


def _sqlite(cfg: settings.Settings) -> SqlBackend:
    cfg.build_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.build_dir / "course_lab.sqlite"
    return _sqlite_engine(make_url(f"sqlite:///{path}"), f"sqlite:///{path}")


def _sqlite_engine(url: URL, masked: str) -> SqlBackend:
    """SQLite is embedded by nature, whether found by fallback or named in the URL."""
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below open transactions
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the one writer
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        # Take the write lock at BEGIN: a deferred transaction that reads and then writes can fail
        # with "database is locked" when two of them upgrade at once; IMMEDIATE makes them queue.
        # Connections marked read-only (see `reader`) run each read on its own: in WAL mode a
        # reader needs no lock and no transaction.
        if not conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT sqlite_version()")).scalar_one()
    return SqlBackend(engine=engine, embedded=True, server="SQLite", version=version, url=masked)


# --- dialect helpers -------------------------------------------------------------------------

READ_ONLY_OPTION = "course_read_only"


def holds_write_lock(conn: Connection) -> bool:
    """True when `conn`'s open transaction holds the database's write lock: on SQLite every transaction does
    (BEGIN IMMEDIATE, above), so none may stay open across a wait for something else (a Redis call). On
    MySQL/MariaDB an open transaction that has only read holds no lock."""
    return conn.dialect.name == "sqlite" and conn.in_transaction()


def inserted_id(result: sa.CursorResult) -> int:
    """The primary key an INSERT of one row generated."""
    key = result.inserted_primary_key
    if key is None:
        raise ValueError("the statement was not a single-row INSERT with a generated key")
    return int(key[0])


def database_now_column(where: Engine | Connection) -> sa.ColumnElement[datetime]:
    """`database_now` as a column expression, to read the time in the same SELECT as a record."""
    if is_mysql(where):
        return sa.type_coerce(sa.func.utc_timestamp(6), sa.DateTime())
    return sa.type_coerce(sa.func.strftime("%Y-%m-%d %H:%M:%f", "now"), sa.DateTime())


def database_now(conn: Connection) -> datetime:
    """The database server's UTC time, naive (as every timestamp column stores it).

    Leases and expiry are judged on this one clock, not on each application server's: a server whose
    clock runs ahead would otherwise take over live claims (docs/architecture.md, "Clocks").
    """
    return conn.execute(sa.select(database_now_column(conn))).scalar_one()


def reader(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read.

    On SQLite each read runs on its own (no BEGIN, so no write lock: readers never queue behind
    writers in WAL mode); on MySQL/MariaDB nothing changes.
    """
    return engine.execution_options(**{READ_ONLY_OPTION: True})



def upsert(table: sa.Table, values: Mapping[str, Any], update: Sequence[str], conflict: Sequence[str], dialect: str):
    """INSERT that updates `update` columns when a row with the same unique key exists.

    MySQL/MariaDB spell it ON DUPLICATE KEY UPDATE (any unique key counts); SQLite needs the
    conflict target named, hence `conflict`.
    """
    if is_mysql(dialect):
        mine = mysql.insert(table).values(**values)
        return mine.on_duplicate_key_update({c: mine.inserted[c] for c in update})
    if dialect == "sqlite":
        lite = sqlite.insert(table).values(**values)
        return lite.on_conflict_do_update(index_elements=list(conflict), set_={c: lite.excluded[c] for c in update})
    raise NotImplementedError(f"upsert for dialect {dialect!r}")


def upsert_if_newer(table: sa.Table, values: Mapping[str, Any], update: Sequence[str], key: str, version: str,
                    dialect: str) -> Any:
    """INSERT, or UPDATE the existing row only if `values` carries a higher `version`: an older write that
    arrives late (a slow writer) never overwrites a newer one."""
    if is_mysql(dialect):
        mine = mysql.insert(table).values(**values)
        newer = mine.inserted[version] > table.c[version]
        # MySQL applies the assignments left to right, so `version` goes last, after the others compared
        # it; a list of pairs keeps that order (a dict would follow the table's column order).
        changes = [(c, sa.case((newer, mine.inserted[c]), else_=table.c[c])) for c in update]
        changes.append((version, sa.case((newer, mine.inserted[version]), else_=table.c[version])))
        return mine.on_duplicate_key_update(changes)
    if dialect == "sqlite":
        lite = sqlite.insert(table).values(**values)
        return lite.on_conflict_do_update(index_elements=[key], set_={c: lite.excluded[c] for c in [*update, version]},
                                          where=lite.excluded[version] > table.c[version])
    raise NotImplementedError(f"upsert_if_newer for dialect {dialect!r}")


def short_lock_wait(conn: Connection, seconds: int) -> AbstractContextManager[None]:
    """On MySQL/MariaDB, wait at most `seconds` for row locks inside this block, then restore the session's
    setting (a pooled connection must not carry one block's timeout into the next user's transaction)."""
    return session_setting(conn, "innodb_lock_wait_timeout", seconds)


def insert_ignore(table: sa.Table, values: Mapping[str, Any], dialect: str):
    """INSERT that silently does nothing when the row's unique key exists (affected rows 0)."""
    if is_mysql(dialect):
        return mysql.insert(table).values(**values).prefix_with("IGNORE")
    if dialect == "sqlite":
        return sqlite.insert(table).values(**values).on_conflict_do_nothing()
    raise NotImplementedError(f"insert_ignore for dialect {dialect!r}")


def insert_or_keep(table: sa.Table, values: Mapping[str, Any], conflict: Sequence[str], dialect: str):
    """INSERT, or leave the row that already has the same unique key exactly as it is.

    Unlike INSERT IGNORE, which on MySQL also turns truncation and bad-value errors into warnings,
    only the duplicate key is forgiven: MySQL's `ON DUPLICATE KEY UPDATE id = id` (a no-op update,
    so the existing row keeps its values), SQLite's `ON CONFLICT (...) DO NOTHING`.
    """
    if is_mysql(dialect):
        return mysql.insert(table).values(**values).on_duplicate_key_update(id=table.c.id)
    if dialect == "sqlite":
        return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=list(conflict))
    raise NotImplementedError(f"insert_or_keep for dialect {dialect!r}")


def explain(conn: Connection, query: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The query plan as a list of row dicts: EXPLAIN on MySQL/MariaDB, EXPLAIN QUERY PLAN on SQLite."""
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    result = conn.execute(sa.text(prefix + query), params or {})
    return [dict(row._mapping) for row in result]
