"""What a workshop hub gives each learner before their server starts, on the room's shared services.

* MariaDB: the learner's database `course_lab_<name>` and a MariaDB user `course_<name>` with every
  privilege on that database and none on any other's tables (PROCESS and the `sys` views too, which the
  lock-monitoring lessons read). The instructor's user `course_instructor` can read
  every learner's database (`course\\_lab\\_%`), and change none.
* Redis: the learner's logical database (the same number `COURSE_LEARNER` gets: `redis_backend.
  learner_database`) and an ACL user `course_<name>` that may SELECT that database only, with every
  command that reaches past a database refused (FLUSHALL, SWAPDB, MOVE, COPY, MIGRATE, FUNCTION, SCRIPT
  FLUSH, the @admin commands) and no Pub/Sub channels (they are server-wide).
* A fresh password for both on every start, handed to the server in its environment only (a learner's
  process runs as their own system user, so no other learner can read it in /proc).

The grants and ACLs are the isolation; they mean nothing while an admin account answers without a
password. `exposed_admins` lists those, and `course hub` prints them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import pymysql
import redis
import sqlalchemy as sa

from course_lib.backends import redis_backend, settings

INSTRUCTOR = "course_instructor"
# Every client host a learner's server may connect from (MariaDB matches user@host; 127.0.0.1 over TCP
# resolves to `localhost` unless the server skips name resolution).
HOSTS = ("localhost", "127.0.0.1")
# Connections one learner may hold at once: a race lesson releases 64 callers, each on its own connection
# (sql_backend's pool: 64 + 16 overflow), and notebook 02 runs three API servers with pools of their own.
# MAX_USER_CONNECTIONS caps each learner there, so one runaway kernel cannot take the room's connections.
CONNECTIONS_PER_LEARNER = 200
RESERVED_CONNECTIONS = 50  # the hub, the instructor, an administrator's shell
# Commands that reach past the learner's own database, or the whole server (Redis ACL syntax).
REDIS_REFUSED = ("-@admin", "-select", "-flushall", "-swapdb", "-move", "-copy", "-migrate", "-function",
                 "-script|flush")


def db_user(learner: str) -> str:
    """The learner's MariaDB and Redis user name."""
    return f"course_{learner}"


@dataclass(frozen=True)
class Grant:
    """What a learner's server is handed: the URLs with their own credentials, in its environment."""

    learner: str
    database_url: str
    redis_url: str
    redis_database: int

    def environment(self, build_dir: str) -> dict[str, str]:
        return {settings.LEARNER: self.learner, settings.DATABASE_URL: self.database_url,
                settings.REDIS_URL: self.redis_url, settings.BUILD_DIR: build_dir,
                settings.REQUIRE_SERVICES: "1"}


class Provisioner:
    """Creates (or re-keys) learners on one MariaDB and one Redis, with their admin URLs."""

    def __init__(self, mysql_admin_url: str, redis_admin_url: str) -> None:
        self.mysql = sa.make_url(mysql_admin_url)
        self.redis_url = redis_admin_url
        self.engine = sa.create_engine(self.mysql, pool_pre_ping=True)

    def learner(self, name: str) -> Grant:
        """The learner's database, users and a new password (any earlier one stops working)."""
        if not settings.LEARNER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} cannot name a learner: {settings.LEARNER_RULE}")
        password = secrets.token_urlsafe(24)
        database, user = settings.database_name(name), db_user(name)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            for host in HOSTS:
                conn.exec_driver_sql(f"CREATE USER IF NOT EXISTS '{user}'@'{host}'")
                conn.exec_driver_sql(f"ALTER USER '{user}'@'{host}' IDENTIFIED BY %s WITH MAX_USER_CONNECTIONS "
                                     f"{CONNECTIONS_PER_LEARNER}", (password,))
                conn.exec_driver_sql(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'{host}'")
                # Notebook 06 reads its own transaction's row locks in information_schema.innodb_trx and the
                # lock waits in sys.innodb_lock_waits; notebook 04's projection asks innodb_trx whether an older
                # transaction may still commit a gap. Both need PROCESS, which also shows the room's running
                # statements (not their tables' rows): the price of teaching lock monitoring on a shared server.
                conn.exec_driver_sql(f"GRANT PROCESS ON *.* TO '{user}'@'{host}'")
                conn.exec_driver_sql(f"GRANT SELECT, EXECUTE ON `sys`.* TO '{user}'@'{host}'")
            self._ensure_connections(conn)
        number = self._redis_user(name, user, password)
        host = f"{self.mysql.host or '127.0.0.1'}:{self.mysql.port or 3306}"
        return Grant(name, f"mysql+pymysql://{user}:{password}@{host}/{database}",
                     f"redis://{user}:{password}@{_host(self.redis_url)}/{number}", number)

    @staticmethod
    def _ensure_connections(conn: sa.Connection) -> None:
        """MariaDB's max_connections (151 by default) room for every provisioned learner at their cap: raised
        when the admin may (SET GLOBAL, until the server restarts: put it in the server's config for good),
        else a clear refusal. Found by `course bench hub`: at 10 learners the race lessons hit 'Too many
        connections' on the default."""
        learners = conn.exec_driver_sql(
            "SELECT COUNT(DISTINCT user) FROM mysql.user WHERE user LIKE 'course\\_%%' AND user <> %s",
            (INSTRUCTOR,)).scalar() or 0
        need = learners * CONNECTIONS_PER_LEARNER + RESERVED_CONNECTIONS
        have = int(conn.exec_driver_sql("SELECT @@GLOBAL.max_connections").scalar_one())
        if have >= need:
            return
        try:
            conn.exec_driver_sql(f"SET GLOBAL max_connections = {need}")
        except sa.exc.DBAPIError as exc:
            raise RuntimeError(f"MariaDB allows {have} connections; {learners} learners need {need} (set "
                               f"max_connections = {need} in its config, then restart it): {exc.orig}") from None

    def _redis_user(self, name: str, user: str, password: str) -> int:
        admin = redis.Redis.from_url(self.redis_url)
        try:
            number = redis_backend.learner_database(admin, name)
            databases = redis_backend.databases(admin)
            if number >= databases:
                raise RuntimeError(f"learner {name!r} is number {number} on a Redis with {databases} databases: "
                                   f"raise `databases` in redis.conf (N learners need N + 1) and restart it")
            admin.execute_command("ACL", "SETUSER", user, "reset", "on", f">{password}", "~*", "resetchannels",
                                  "+@all", *REDIS_REFUSED, f"+select|{number}")
        finally:
            admin.close()
        return number

    def instructor(self) -> str:
        """The instructor's URL: reads every learner's database (`course\\_lab\\_%`), writes none."""
        password = secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            for host in HOSTS:
                conn.exec_driver_sql(f"CREATE USER IF NOT EXISTS '{INSTRUCTOR}'@'{host}'")
                conn.exec_driver_sql(f"ALTER USER '{INSTRUCTOR}'@'{host}' IDENTIFIED BY %s", (password,))
                conn.exec_driver_sql(f"GRANT SELECT, SHOW VIEW ON `course\\_lab\\_%%`.* TO '{INSTRUCTOR}'@'{host}'")
        return f"mysql+pymysql://{INSTRUCTOR}:{password}@{self.mysql.host or '127.0.0.1'}:{self.mysql.port or 3306}/"

    def remove(self, name: str) -> None:
        """The learner's users, database and Redis keys gone (after a workshop)."""
        user = db_user(name)
        with self.engine.begin() as conn:
            for host in HOSTS:
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'{host}'")
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{settings.database_name(name)}`")
        admin = redis.Redis.from_url(self.redis_url)
        try:
            admin.execute_command("ACL", "DELUSER", user)
            redis_backend.forget_learner(admin, name)
        finally:
            admin.close()

    def remove_instructor(self) -> None:
        with self.engine.begin() as conn:
            for host in HOSTS:
                conn.exec_driver_sql(f"DROP USER IF EXISTS '{INSTRUCTOR}'@'{host}'")

    def close(self) -> None:
        self.engine.dispose()


def _host(url: str) -> str:
    """host:port of a URL, without its credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 6379}"


def exposed_admins(mysql_admin_url: str, redis_admin_url: str) -> list[str]:
    """Admin accounts a learner's process could use without a password, which would undo every grant."""
    found = []
    url = sa.make_url(mysql_admin_url)
    try:
        pymysql.connect(host=url.host or "127.0.0.1", port=url.port or 3306, user="root", password="",
                        connect_timeout=2).close()
        found.append(f"MariaDB's root at {url.host}:{url.port or 3306} answers without a password: give it one "
                     "(or unix_socket authentication) before learners log in")
    except pymysql.MySQLError:
        pass
    host = _host(redis_admin_url)
    try:
        bare = redis.Redis.from_url(f"redis://{host}/0", socket_timeout=2)
        bare.ping()
        found.append(f"Redis at {host} answers without a password (its `default` user has nopass): set "
                     "`requirepass` or `ACL SETUSER default off` and give the hub an admin user")
        bare.close()
    except redis.RedisError:
        pass
    return found
