"""The workshop hub (issue #20), for real: a jupyterhub process and its configurable-http-proxy, learners
logging in through the login form, their servers spawned under their own system accounts, notebooks run
in their kernels, and what one learner's kernel can reach of another's (the real grants and ACLs).

Needs root (the hub spawns system accounts), `make hub-setup` and the services; CI has all three."""

from __future__ import annotations

import asyncio
import os
import secrets
import textwrap
import time

import pytest
import redis
import sqlalchemy as sa

from course_lib.hub import config, remote
from course_lib.hub.api import HubClient, HubError
from course_lib.hub.process import Hub
from course_lib.hub.provision import Provisioner, exposed_admins

from .conftest import require_services

LEARNERS, INSTRUCTOR = ("alice", "bob"), "teacher"
ADMIN_DB, ADMIN_REDIS = config.Options.database_url, config.Options.redis_url


def _as_root() -> None:
    require_services()
    if os.geteuid() != 0:
        pytest.skip("the hub spawns each learner's server under a system account of their own: run as root")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    _as_root()
    token = secrets.token_hex(32)
    running = Hub(tmp_path_factory.mktemp("hub"), instructors=(INSTRUCTOR,), service_token=token)
    client = HubClient(running.url, token)
    try:
        yield running, client
    finally:
        client.close()
        running.stop()
        config.remove_learners([*LEARNERS, INSTRUCTOR])
        Provisioner(ADMIN_DB, ADMIN_REDIS).remove_instructor()


@pytest.fixture(scope="module")
def servers(hub):
    """alice and bob logged in through the form (claiming their names) and their servers running."""
    _, client = hub
    urls = {}
    for name in LEARNERS:
        client.login(name, f"{name}-password").close()
        urls[name] = client.start(name)
    return urls


def _in_kernel(client: HubClient, url: str, code: str) -> str:
    return asyncio.run(remote.run_code(url, client.token, textwrap.dedent(code)))


def test_the_first_login_claims_a_name_and_later_ones_need_its_password(hub, servers):
    _, client = hub
    client.login("alice", "alice-password").close()
    with pytest.raises(HubError, match="wrong password"):
        client.login("alice", "bob-password")


def test_a_name_that_cannot_name_a_database_or_an_account_is_refused(hub):
    _, client = hub
    for name in ("Alice", "al-ice", "1alice"):
        with pytest.raises(HubError):
            client.login(name, "long-enough-password")


def test_a_system_account_the_hub_did_not_make_is_never_spawned(hub):
    _, client = hub
    client.login("daemon", "long-enough-password").close()
    with pytest.raises(HubError):
        client.start("daemon")
    client.delete("daemon")


def test_two_learners_run_the_same_notebook_at_once_in_their_own_kernels(hub, servers):
    _, client = hub

    async def both():
        return await asyncio.gather(*(remote.run_notebook(servers[name], client.token,
                                                          "notebooks/01_idempotency_keys.ipynb") for name in LEARNERS))

    for run in asyncio.run(both()):
        assert run.cells > 10 and run.failed == [], run


def test_the_lessons_that_need_more_than_their_database_run_on_a_learners_grants(hub, servers):
    """04 asks InnoDB which transactions are open, 06 reads row locks and sys.innodb_lock_waits: both were
    refused until the hub granted PROCESS and the sys views (found running every notebook as a learner)."""
    _, client = hub

    async def lessons():
        return [await remote.run_notebook(servers["alice"], client.token, path) for path in (
            "notebooks/04_event_sourcing.ipynb", "notebooks/06_sql_performance.ipynb")]

    for run in asyncio.run(lessons()):
        assert run.cells > 10 and run.failed == [], run


def test_each_server_runs_as_its_learner_with_their_own_backends(hub, servers):
    _, client = hub
    for name in LEARNERS:
        out = _in_kernel(client, servers[name], """
            import getpass, os
            from course_lib import backends
            print(getpass.getuser(), os.environ["COURSE_LEARNER"], backends.sql().engine.url.database,
                  backends.sql().engine.url.username, backends.redis().client.connection_pool.connection_kwargs["db"])
        """).split()
        assert out[:4] == [name, name, f"course_lab_{name}", f"course_{name}"] and int(out[4]) > 0, out


def test_a_learner_cannot_read_write_or_drop_another_learners_database(hub, servers):
    _, client = hub
    out = _in_kernel(client, servers["alice"], """
        import sqlalchemy as sa
        from course_lib import backends
        engine = backends.sql().engine
        with engine.connect() as conn:
            print(sorted(row[0] for row in conn.exec_driver_sql("SHOW DATABASES")))
        for statement in ("SELECT COUNT(*) FROM course_lab_bob.idempotency_keys",
                          "INSERT INTO course_lab_bob.idempotency_keys (idem_key) VALUES ('x')",
                          "DROP DATABASE course_lab_bob", "CREATE DATABASE course_lab_mallory",
                          "GRANT ALL ON course_lab_bob.* TO CURRENT_USER"):
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(statement)
                print("ALLOWED", statement)
            except sa.exc.DBAPIError as exc:
                print("refused", exc.orig.args[0])
    """).splitlines()
    assert out[0] == "['course_lab_alice', 'information_schema', 'sys']"  # sys: the lock-wait views of 06
    assert all(line.startswith("refused 1") for line in out[1:]) and len(out) == 6, out  # 1044/1142: access denied
    with sa.create_engine(ADMIN_DB).connect() as conn:
        assert conn.exec_driver_sql("SHOW DATABASES LIKE 'course_lab_bob'").first(), "bob's database is still there"


def test_a_learner_cannot_reach_another_learners_redis_keys(hub, servers):
    _, client = hub
    bob_db = int(_in_kernel(client, servers["bob"], """
        from course_lib import backends
        r = backends.redis().client
        r.set("bob:secret", "42")
        print(r.connection_pool.connection_kwargs["db"])
    """))
    out = _in_kernel(client, servers["alice"], f"""
        import redis
        from course_lib import backends
        r = backends.redis().client
        print(r.get("bob:secret"))
        for command in (("SELECT", {bob_db}), ("SELECT", 0), ("FLUSHALL",), ("SWAPDB", 0, {bob_db}),
                        ("MOVE", "k", {bob_db}), ("CONFIG", "GET", "*"), ("ACL", "LIST"), ("FUNCTION", "FLUSH"),
                        ("SCRIPT", "FLUSH"), ("PUBLISH", "room", "hi")):
            try:
                r.execute_command(*command)
                print("ALLOWED", command)
            except redis.exceptions.NoPermissionError:
                print("refused", command[0])
        r.set("alice:own", "1")  # her own database works
        print(r.get("alice:own"))
    """).splitlines()
    assert out[0] == "None" and out[-1] == "b'1'", out
    assert [line.split()[0] for line in out[1:-1]] == ["refused"] * 10, out
    assert redis.Redis.from_url(f"redis://127.0.0.1:6379/{bob_db}").get("bob:secret") == b"42"


def test_a_learner_cannot_read_another_learners_files_or_process_environment(hub, servers):
    _, client = hub
    out = _in_kernel(client, servers["alice"], """
        import pathlib, psutil
        for path in [pathlib.Path("/home/bob/course/notebooks"),
                     *(pathlib.Path(f"/proc/{p.pid}/environ") for p in psutil.process_iter(["username"])
                       if p.info["username"] == "bob")]:
            try:
                path.read_bytes() if path.is_file() else list(path.iterdir())
                print("ALLOWED", path)
            except PermissionError:
                print("refused", path)
    """).splitlines()
    assert len(out) >= 2 and all(line.startswith("refused") for line in out), out


def test_the_instructor_reads_every_learners_database_and_changes_none(hub, servers):
    _, client = hub
    client.login(INSTRUCTOR, "teacher-password").close()
    url = client.start(INSTRUCTOR)
    out = _in_kernel(client, url, """
        import os
        import sqlalchemy as sa
        engine = sa.create_engine(os.environ["COURSE_INSTRUCTOR_DATABASE_URL"])
        with engine.connect() as conn:
            print(sorted(r[0] for r in conn.exec_driver_sql("SHOW DATABASES")))
            print(conn.exec_driver_sql("SELECT COUNT(*) FROM course_lab_alice.idempotency_keys").scalar() >= 0)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM course_lab_alice.idempotency_keys")
            print("ALLOWED")
        except sa.exc.DBAPIError as exc:
            print("refused", exc.orig.args[0])
    """).splitlines()
    assert "'course_lab_alice', 'course_lab_bob'" in out[0] and "'mysql'" not in out[0], out
    assert out[1] == "True" and out[2].startswith("refused 1142"), out


def test_the_idle_culler_stops_a_server_nobody_uses(tmp_path):
    """A room's learners leave without logging out; their servers (350 MB each) must not run all night."""
    _as_root()
    token = secrets.token_hex(32)
    running = Hub(tmp_path, service_token=token, idle_timeout_s=4)
    client = HubClient(running.url, token)
    try:
        client.login("carol", "carol-password").close()
        client.start("carol")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and client.api.get("/users/carol").json()["servers"]:
            time.sleep(1)
        assert client.api.get("/users/carol").json()["servers"] == {}, "still running a minute later"
        assert "DELETE /hub/api/users/carol/server (idle-culler@" in running.log_path.read_text(), "by the culler"
    finally:
        client.close()
        running.stop()
        config.remove_learners(["carol"])


def test_admin_accounts_open_without_a_password_are_reported():
    """The grants mean nothing while MariaDB's root or Redis' default user answers without a password (as on
    this development machine): `course hub` prints each one it finds."""
    require_services()
    found = exposed_admins(ADMIN_DB, ADMIN_REDIS)
    with sa.create_engine(ADMIN_DB).connect() as conn:
        root_open = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM mysql.user WHERE user = 'root' AND authentication_string = '' "
            "AND plugin IN ('', 'mysql_native_password')").scalar()
    redis_open = "nopass" in redis.Redis.from_url(ADMIN_REDIS).acl_getuser("default")["flags"]
    assert any("MariaDB" in f for f in found) == bool(root_open)
    assert any("Redis" in f for f in found) == redis_open
