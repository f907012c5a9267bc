"""Redis leases and fencing tokens, on the real Redis (and the emulator, which must behave the same)."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from course_lib import backends
from course_lib.api.tables import reset_tables
from course_lib.backends import settings
from course_lib.orders import inventory
from course_lib.orders.locks import FencedLock, RedisLock, fenced_update
from tests.conftest import require_services


@pytest.fixture(params=["redis", "emulator"])
def client(request):
    if request.param == "redis":
        require_services()
        backend = backends.redis_backend.connect(settings.REDIS_DEFAULT_URL)
    else:
        backend = backends.redis_backend.emulator()
    yield backend.client
    backend.close()


def key() -> str:
    return f"test:lock:{uuid.uuid4().hex}"


def test_one_holder_at_a_time_and_release_frees_it(client):
    lock = RedisLock(client, key(), lease_ms=5_000)
    first = lock.acquire()
    assert first is not None and lock.acquire() is None
    assert 0 < lock.remaining_ms() <= 5_000
    assert lock.release(first) is True
    assert lock.acquire() is not None


def test_lease_expires_and_a_stale_holder_cannot_release_the_new_holders_lock(client):
    lock = RedisLock(client, key(), lease_ms=50)
    stale = lock.acquire()
    time.sleep(0.12)
    fresh = lock.acquire()
    assert fresh is not None  # the lease ran out: someone else got in
    assert lock.release(stale) is False  # compare-and-delete: not ours any more
    assert lock.acquire() is None  # the new holder still holds it
    assert lock.release(fresh) is True


def test_fencing_tokens_increase_with_every_acquisition(client):
    lock = FencedLock(client, key(), lease_ms=5_000)
    fences = []
    for _ in range(3):
        lease = lock.acquire()
        fences.append(lease.fence)
        lock.release(lease)
    assert fences == sorted(fences) and len(set(fences)) == 3


def test_the_lock_and_its_fencing_token_are_taken_in_one_step(client):
    """With SET NX then INCR, a holder paused between the two got its token after a later holder: its
    token was larger although it won the lock first. One script makes acquisition and token one step,
    so a later holder always has a larger token, whatever pauses come after."""
    lock, calls = FencedLock(client, key(), lease_ms=50), []
    original = client.execute_command

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = counting
    try:
        first = lock.acquire()
    finally:
        client.execute_command = original
    assert not {"SET", "INCR"} & set(calls) and {"EVALSHA", "EVAL"} & set(calls), "one script, not two commands"
    time.sleep(0.12)  # the first holder pauses past its lease; a second one takes the lock
    second = lock.acquire()
    assert first is not None and second is not None and first.fence < second.fence


def test_non_positive_lease_is_refused(client):
    with pytest.raises(ValueError, match="lease_ms"):
        RedisLock(client, key(), lease_ms=0)


def test_fenced_update_rejects_an_older_token(sql_engine):
    reset_tables(sql_engine)
    with sql_engine.begin() as conn:
        row_id = conn.execute(sa.insert(inventory).values(sku="BOOK-DDIA", quantity=10)).inserted_primary_key[0]
        assert fenced_update(conn, inventory, row_id, fence=2, quantity=9)
        assert not fenced_update(conn, inventory, row_id, fence=1, quantity=8)  # the stale holder
        assert not fenced_update(conn, inventory, row_id, fence=2, quantity=8)  # a replay of the same token
        quantity, fence = conn.execute(sa.select(inventory.c.quantity, inventory.c.fence)).one()
    assert (quantity, fence) == (9, 2)
