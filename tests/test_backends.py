"""Backend resolution, masking, error messages, fallbacks and the private redis-server's life cycle."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy as sa

from course_lib import backends
from course_lib.backends import BackendUnavailable, redis_backend, settings, sql_backend
from course_lib.backends.columns import is_mysql

from .conftest import require_services

# --- resolution order ------------------------------------------------------------------------


def test_embedded_mode_uses_only_fallbacks(clean_env):
    clean_env.setenv(settings.BACKENDS, "embedded")
    rows = {r.backend: r for r in backends.describe()}
    assert {b: r.mode for b, r in rows.items()} == {"SQL": "embedded", "Redis": "embedded", "S3": "embedded"}
    assert rows["SQL"].server == "SQLite"
    assert rows["S3"].server.startswith("moto")
    assert backends.sql().url.startswith("sqlite:///") and "build" in backends.sql().url


def test_standard_ports_are_used_when_servers_listen(clean_env):
    require_services()
    rows = {r.backend: r for r in backends.describe()}
    assert rows["SQL"].mode == "real server" and rows["SQL"].server in {"MariaDB", "MySQL"}
    assert rows["Redis"].mode == "real server" and rows["Redis"].url == settings.REDIS_DEFAULT_URL


def test_explicit_url_wins_over_standard_port(clean_env, tmp_path):
    clean_env.setenv(settings.DATABASE_URL, f"sqlite:///{tmp_path / 'chosen.sqlite'}")
    assert backends.sql().url.endswith("chosen.sqlite")
    assert backends.sql().embedded  # SQLite is labelled embedded even when named explicitly


def test_missing_servers_fall_back_without_require(clean_env):
    clean_env.setattr(settings, "port_open", lambda host, port, timeout=0.5: False)
    assert backends.sql().server == "SQLite"
    assert backends.redis().embedded


@pytest.mark.parametrize("backend", ["SQL", "Redis"])
def test_require_services_turns_a_missing_server_into_an_error(clean_env, backend):
    clean_env.setenv(settings.REQUIRE_SERVICES, "1")
    clean_env.setattr(settings, "port_open", lambda host, port, timeout=0.5: False)
    resolve = {"SQL": backends.sql, "Redis": backends.redis}[backend]
    with pytest.raises(BackendUnavailable) as err:
        resolve()
    assert "COURSE_REQUIRE_SERVICES" in err.value.message
    assert "apt-get install" in err.value.message


def test_invalid_backends_mode_is_rejected(clean_env):
    clean_env.setenv(settings.BACKENDS, "sometimes")
    with pytest.raises(ValueError, match="COURSE_BACKENDS"):
        settings.current()


# --- masking ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "masked"), [
    ("mysql+pymysql://app:s3cret@db.example:3306/course_lab", "mysql+pymysql://app:***@db.example:3306/course_lab"),
    ("redis://:hunter2@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("mysql+pymysql://root@127.0.0.1:3306/course_lab", "mysql+pymysql://root@127.0.0.1:3306/course_lab"),
    ("http://minio:pw@[::1]:9000", "http://minio:***@[::1]:9000"),
])
def test_mask_url_hides_only_the_password(url, masked):
    assert settings.mask_url(url) == masked


def test_password_never_reaches_the_error_message(clean_env):
    require_services()
    clean_env.setenv(settings.DATABASE_URL, "mysql+pymysql://root:TopSecret99@127.0.0.1:3306/course_lab")
    with pytest.raises(BackendUnavailable) as err:
        backends.sql()
    assert "TopSecret99" not in err.value.message
    assert "wrong user or password" in err.value.message


# --- error messages --------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "says"), [
    ("mysql+pymysql://root@127.0.0.1:1/x", "nothing answers at 127.0.0.1:1"),
    ("mysql+nosuchdriver://root@127.0.0.1:3306/x", "unknown driver"),
    ("mysql+mysqldb://root@127.0.0.1:3306/x", "not installed"),
    ("postgresql://root@127.0.0.1/x", "unsupported database"),
    ("not a url", "is not a database URL"),
    ("mysql+pymysql://root@no-such-host.invalid:3306/x", "unknown host"),
])
def test_bad_database_url_gives_one_clear_message(clean_env, url, says):
    clean_env.setenv(settings.DATABASE_URL, url)
    with pytest.raises(BackendUnavailable) as err:
        backends.sql()
    assert says in err.value.message
    assert "COURSE_DATABASE_URL" in err.value.message
    assert "Fix:" in err.value.message
    chained = err.value.__cause__ or (None if err.value.__suppress_context__ else err.value.__context__)
    assert chained is None  # no driver traceback attached


@pytest.mark.parametrize(("url", "says"), [
    ("redis://127.0.0.1:1/0", "nothing usable answers"),
    ("http://127.0.0.1:6379", "is not a Redis URL"),
])
def test_bad_redis_url_gives_one_clear_message(clean_env, url, says):
    clean_env.setenv(settings.REDIS_URL, url)
    with pytest.raises(BackendUnavailable) as err:
        backends.redis()
    assert says in err.value.message and "COURSE_REDIS_URL" in err.value.message


def test_bad_s3_endpoint_gives_one_clear_message(clean_env):
    clean_env.setenv(settings.S3_ENDPOINT, "http://127.0.0.1:1")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "x")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with pytest.raises(BackendUnavailable) as err:
        backends.s3()
    assert "nothing usable answers" in err.value.message and "COURSE_S3_ENDPOINT" in err.value.message


def test_s3_endpoint_without_credentials_says_which_variables(clean_env):
    clean_env.setenv(settings.S3_ENDPOINT, "http://127.0.0.1:9000")
    clean_env.delenv("AWS_ACCESS_KEY_ID", raising=False)
    clean_env.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(BackendUnavailable, match="AWS_ACCESS_KEY_ID"):
        backends.s3()


def test_error_renders_without_traceback_in_jupyter():
    err = BackendUnavailable("SQL", "nothing answers", "start it", "COURSE_DATABASE_URL")
    rendered = "\n".join(err._render_traceback_())
    assert "Traceback" not in rendered and "COURSE_DATABASE_URL" in rendered and "start it" in rendered


def test_describe_reports_a_broken_backend_instead_of_raising(clean_env):
    clean_env.setenv(settings.DATABASE_URL, "mysql+pymysql://root@127.0.0.1:1/x")
    clean_env.setenv(settings.BACKENDS, "auto")
    rows = {r.backend: r for r in backends.describe()}
    assert not rows["SQL"].ok and "COURSE_DATABASE_URL" in rows["SQL"].note
    assert rows["S3"].ok


# --- fallbacks -------------------------------------------------------------------------------


def test_private_redis_server_starts_answers_and_stops():
    binary = shutil.which("redis-server")
    if not binary:
        pytest.skip("redis-server is not installed")
    backend = redis_backend.start_private_server(binary)
    port = int(backend.url.rsplit(":", 1)[1].split("/")[0])
    assert port != 6379 and backend.embedded
    assert backend.client.ping() and backend.new_client().set("k", "v") and backend.client.get("k") == b"v"
    workdir = backend.client.config_get("dir")["dir"]
    backend.close()
    assert backend._process.poll() is not None
    assert not settings.port_open("127.0.0.1", port) and not os.path.exists(workdir)


# The command issue #20 reported: a kernel killed with SIGKILL left its private redis-server running.
KILLED_OWNER = """
import os
from course_lib import backends
backend = backends.redis()
backend.client.ping()
print(backend.url, backend.client.config_get("dir")["dir"], flush=True)
os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("kill", ["the owner", "its process group"])
def test_a_private_redis_server_dies_with_its_owner_even_on_kill_9(clean_env, kill):
    """A kernel's process group is what Jupyter kills when a kernel will not shut down: the watchdog must
    not be in it, or the server dies unwatched and its directory stays (found after CI runs left 11 each)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    env = {**os.environ, settings.BACKENDS: "embedded"}
    script = KILLED_OWNER if kill == "the owner" else KILLED_OWNER.replace("os.kill(os.getpid(), 9)",
                                                                            "os.killpg(os.getpgid(0), 9)")
    owner = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                           start_new_session=True)
    assert owner.returncode == -signal.SIGKILL, owner.stderr
    url, workdir = owner.stdout.split()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    deadline = time.monotonic() + 10
    while (settings.port_open("127.0.0.1", port) or os.path.exists(workdir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not settings.port_open("127.0.0.1", port), "the private redis-server outlived its owner"
    assert not os.path.exists(workdir), "its temporary directory was left behind"


def test_emulator_is_used_without_a_redis_binary_and_runs_scripts_and_locks(clean_env):
    clean_env.setenv(settings.BACKENDS, "embedded")
    clean_env.setattr(shutil, "which", lambda name: None)
    backend = backends.redis()
    assert backend.server == "fakeredis emulator"
    r, other = backend.client, backend.new_client()
    assert r.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, "k", "v") == b"OK"
    assert other.get("k") == b"v"  # a second client sees the same emulated server
    lock = r.lock("resource", timeout=1)
    assert lock.acquire(blocking=False)
    assert not other.lock("resource", timeout=1).acquire(blocking=False)
    lock.release()


def test_embedded_s3_serves_real_http_and_stops(clean_env):
    clean_env.setenv(settings.BACKENDS, "embedded")
    s3 = backends.s3()
    client = s3.new_client()
    client.create_bucket(Bucket="course-test")
    url = client.generate_presigned_url("get_object", Params={"Bucket": "course-test", "Key": "k"})
    assert url.startswith(s3.endpoint)
    port = int(s3.endpoint.rsplit(":", 1)[1])
    assert settings.port_open("127.0.0.1", port)
    backends.shutdown()
    assert not settings.port_open("127.0.0.1", port)


# --- dialect helpers, on SQLite and on the real server ------------------------------------------




@pytest.mark.parametrize("which", ["sqlite", "mariadb"])
def test_upsert_insert_ignore_and_explain(which, tmp_path):
    if which == "mariadb":
        require_services()
        engine = sql_backend.connect(settings.MYSQL_DEFAULT_URL).engine
    else:
        engine = sql_backend.connect(f"sqlite:///{tmp_path / 'd.sqlite'}").engine
    meta = sa.MetaData()
    table = sa.Table(f"t_{uuid.uuid4().hex[:8]}", meta, sa.Column("k", sa.String(20), primary_key=True),
                     sa.Column("v", sa.Integer, nullable=False))
    meta.create_all(engine)
    try:
        with engine.begin() as conn:
            d = engine.dialect.name
            conn.execute(sql_backend.upsert(table, {"k": "a", "v": 1}, update=["v"], conflict=["k"], dialect=d))
            conn.execute(sql_backend.upsert(table, {"k": "a", "v": 2}, update=["v"], conflict=["k"], dialect=d))
            ignored = conn.execute(sql_backend.insert_ignore(table, {"k": "a", "v": 99}, dialect=d))
            assert ignored.rowcount == 0
            assert conn.execute(sa.select(table.c.v)).scalars().all() == [2]
            plan = sql_backend.explain(conn, f"SELECT v FROM {table.name} WHERE k = :k", {"k": "a"})
            assert plan and isinstance(plan[0], dict)
    finally:
        meta.drop_all(engine)
        engine.dispose()


def test_insert_or_keep_returning_gives_the_row_that_stands(sql_engine):
    """create-order relies on this (orders/service.py): with RETURNING, MariaDB's upsert answers the row as it
    stands after the statement, the existing one on a duplicate key (its id and values, not the ones sent);
    SQLite answers nothing on a conflict, and the service then reads the row under a lock."""
    meta = sa.MetaData()
    table = sa.Table(f"t_{uuid.uuid4().hex[:8]}", meta, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("k", sa.String(20), nullable=False, unique=True), sa.Column("v", sa.Integer))
    meta.create_all(sql_engine)
    try:
        with sql_engine.begin() as conn:
            if not conn.dialect.insert_returning:
                pytest.skip(f"{conn.dialect.name} has no INSERT ... RETURNING (MySQL): the service reads instead")
            upsert = lambda v: sql_backend.insert_or_keep(table, {"k": "a", "v": v}, ["k"],  # noqa: E731
                                                          conn.dialect.name).returning(table.c.id, table.c.v)
            first = conn.execute(upsert(1)).all()
            again = conn.execute(upsert(2)).all()
        assert first == [(1, 1)]
        assert again == ([(1, 1)] if is_mysql(sql_engine) else [])
    finally:
        meta.drop_all(sql_engine)


def test_the_pool_rolls_back_only_what_is_still_open(mariadb_engine, monkeypatch):
    """No ROLLBACK after a committed transaction (one round trip saved per transaction); still one for a
    connection returned with a transaction open, whether SQLAlchemy or the raw driver left it open."""
    import pymysql

    sent: list[str] = []
    real = pymysql.connections.Connection.rollback
    monkeypatch.setattr(pymysql.connections.Connection, "rollback",
                        lambda self: (sent.append("ROLLBACK"), real(self))[1])
    with mariadb_engine.begin() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert sent == [], "committed: nothing left to roll back"
    conn = mariadb_engine.connect()
    conn.execute(sa.text("SELECT 1"))
    conn.commit()
    conn.execute(sa.text("SELECT 2"))  # a second transaction, never ended
    conn.close()
    assert sent == ["ROLLBACK"]
    raw = mariadb_engine.raw_connection()
    cursor = raw.cursor()
    cursor.execute("SELECT 1")
    cursor.fetchall()
    raw.close()  # the pool cannot know what the driver did: it rolls back
    assert sent == ["ROLLBACK", "ROLLBACK"]
