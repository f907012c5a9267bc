"""COURSE_LEARNER (issue #20): on shared services every database, Redis key, bucket and build file a learner
touches is theirs; two learners running the same notebooks at the same moment both pass every assert."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from course_lib import backends
from course_lib.backends import redis_backend, settings

from .conftest import require_services

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("name", ["Alice", "1bob", "bob-smith", "x" * 33, "bob;drop"])
def test_a_learner_name_that_cannot_name_a_database_is_refused_with_the_rule(clean_env, name):
    clean_env.setenv(settings.LEARNER, name)
    with pytest.raises(ValueError, match="COURSE_LEARNER must be a short lowercase name"):
        settings.current()


def test_a_learner_gets_their_own_database_bucket_and_build_folder(clean_env, tmp_path):
    clean_env.delenv(settings.BUILD_DIR)
    clean_env.setenv(settings.LEARNER, "ada_l")
    cfg = settings.current()
    assert cfg.mysql_default_url.endswith("/course_lab_ada_l")
    assert cfg.bucket("course-uploads") == "course-uploads-ada-l"
    assert cfg.build_dir.parts[-2:] == ("learners", "ada_l")
    clean_env.delenv(settings.LEARNER)
    assert settings.current().mysql_default_url == settings.MYSQL_DEFAULT_URL  # unset: one learner, as before


def test_learners_on_one_mariadb_get_one_database_each(clean_env):
    require_services()
    names = {}
    for who in ("alice", "bob"):
        clean_env.setenv(settings.LEARNER, who)
        backends.shutdown()
        with backends.sql().engine.connect() as conn:
            names[who] = conn.execute(sa.text("SELECT DATABASE()")).scalar_one()
    assert names == {"alice": "course_lab_alice", "bob": "course_lab_bob"}


def test_learners_on_one_redis_get_one_database_each_and_keep_it(clean_env):
    require_services()
    seen = {}
    for who in ("alice", "bob", "alice"):
        clean_env.setenv(settings.LEARNER, who)
        backends.shutdown()
        client = backends.redis().client
        seen.setdefault(who, set()).add(client.connection_pool.connection_kwargs["db"])
        client.set("lock:orders:same-name", who)
    assert len(seen["alice"]) == 1 and seen["alice"] != seen["bob"] and 0 not in seen["alice"] | seen["bob"]
    clean_env.setenv(settings.LEARNER, "alice")
    backends.shutdown()
    assert backends.redis().client.get("lock:orders:same-name") == b"alice", "bob's write did not reach alice's key"


def test_a_full_redis_says_how_many_databases_a_workshop_needs(clean_env):
    require_services()
    client = redis_backend._client(settings.REDIS_DEFAULT_URL)
    databases = redis_backend.databases(client)
    client.hset(redis_backend.LEARNERS_REGISTRY, "overflow", databases)  # as if every database were taken
    try:
        with pytest.raises(backends.BackendUnavailable, match=r"raise `databases` in redis\.conf"):
            redis_backend._learner_url(settings.REDIS_DEFAULT_URL, "overflow")
    finally:
        client.hdel(redis_backend.LEARNERS_REGISTRY, "overflow")


def test_learners_starting_at_once_get_distinct_databases_and_a_forgotten_number_is_reused(clean_env):
    require_services()
    client = redis_backend._client(settings.REDIS_DEFAULT_URL)
    names = [f"burst_{i}" for i in range(8)]
    try:
        with ThreadPoolExecutor(8) as pool:
            numbers = list(pool.map(lambda who: redis_backend.learner_database(client, who), names))
        assert len(set(numbers)) == 8 and 0 not in numbers
        redis_backend.on_database(client, numbers[3]).set("left", "behind")
        redis_backend.forget_learner(client, names[3])
        assert redis_backend.learner_database(client, "burst_new") == numbers[3], "the lowest free number"
        assert not redis_backend.on_database(client, numbers[3]).exists("left")
    finally:
        for who in [*names, "burst_new"]:
            redis_backend.forget_learner(client, who)


NOTEBOOKS = ["notebooks/01_idempotency_keys.ipynb", "notebooks/02_create_order_case_study.ipynb",
             "notebooks/04_event_sourcing.ipynb"]


def test_two_learners_run_the_same_notebooks_at_once_on_the_same_services(tmp_path):
    """Both drop and recreate their tables, take their locks, write their events: neither sees the other's."""
    require_services()

    def run(who: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
        env.update({settings.LEARNER: who, settings.BUILD_DIR: str(tmp_path / who)})
        return subprocess.run([sys.executable, "-m", "course_lib.cli", "run", *NOTEBOOKS], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    with ThreadPoolExecutor(2) as pool:
        alice, bob = pool.map(run, ["alice", "bob"])
    for who, done in (("alice", alice), ("bob", bob)):
        assert done.returncode == 0, f"{who}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
