"""Exercises for notebook 02: the owner-checked release, the fenced UPDATE, the atomic fenced acquire."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib import backends
from course_lib.lab import race
from course_lib.lab.exercises import exercise

Release = Callable[[redis.Redis, str, str], bool]


class _ExpiresBetweenCalls:
    """A Redis client on which the lock changes hands right after anyone GETs it.

    That is exactly what happens to a release written as GET, compare, DEL when the lease runs out
    between the GET and the DEL. A server-side script (EVAL) is one step and is not interrupted.
    """

    def __init__(self, client: redis.Redis, new_owner: str) -> None:
        self._client, self._new_owner = client, new_owner
        self.handed_over = False

    def get(self, name: str) -> Any:
        value = self._client.get(name)
        self._client.set(name, self._new_owner, px=10_000)  # the lease expired; another worker took it
        self.handed_over = True
        return value

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._client, attr)


@exercise("safe_release",
          concept="between your GET and your DEL the lock can expire and become someone else's: the check and the "
                  "delete must be one step on the server",
          outline="compare and delete in one server-side step: a Lua script run with EVAL (or "
          "client.register_script) that DELs the key only if GET returns your token")
def check_safe_release(release: Release) -> Iterator[tuple[str, bool]]:
    client = backends.redis().new_client()
    key = f"exercise:lock:{uuid.uuid4().hex}"
    client.set(key, "mine", px=10_000)
    yield "releasing your own lock returns True", release(client, key, "mine") is True
    yield "... and the key is gone", client.get(key) is None
    client.set(key, "theirs", px=10_000)
    yield "releasing with a stale token returns False", release(client, key, "mine") is False
    yield "... and the other holder keeps the lock", client.get(key) == b"theirs"
    client.set(key, "mine", px=10_000)
    racy = _ExpiresBetweenCalls(client, "newcomer")
    release(cast(redis.Redis, racy), key, "mine")  # duck-typed: GET and the script go to the real client
    expected = b"newcomer" if racy.handed_over else None  # a script never GETs from the client: no handover
    yield "the lock changing hands mid-release does not delete the newcomer's lock", client.get(key) == expected
    client.delete(key)


# Exercise 2 works on a table of its own: one row that holders write, and the fence it last accepted.
fenced_rows = sa.Table("exercise_fenced", sa.MetaData(),
                       sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                       sa.Column("fence", sa.Integer, nullable=False),
                       sa.Column("status", sa.String(64), nullable=False))
FENCED_HOLDERS = 16
# Holder 33 writes, holder 32 wakes from a pause longer than its lease and writes, 33 retries, 34 writes.
TIMELINE = [(33, "paid by 33"), (32, "paid by 32, woke up late"), (33, "paid by 33, a retry"), (34, "shipped by 34")]


def _fenced_write(engine: Engine, sql: str, fence: int, status: str) -> int:
    with engine.begin() as conn:
        return conn.execute(sa.text(sql), {"id": 1, "fence": fence, "status": status}).rowcount


def _fenced_row(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(fenced_rows.c.fence, fenced_rows.c.status)).one())


@exercise("fenced_sql",
          concept="the resource refuses a write whose fencing token is not newer than the last one it accepted; "
                  "checking the token and writing must be one statement, or a stale holder slips in between",
          outline="UPDATE exercise_fenced SET fence = :fence, status = :status WHERE id = :id AND fence < :fence; "
                  "the row count says whether the write was accepted (1) or came from a stale holder (0)")
def check_fenced_sql(fenced_sql: Callable[[], str]) -> Iterator[tuple[str, bool]]:
    engine = backends.sql().engine
    fenced_rows.drop(engine, checkfirst=True)
    fenced_rows.create(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(fenced_rows).values(id=1, fence=0, status="new"))
    sql = fenced_sql()
    accepted = [_fenced_write(engine, sql, fence, status) == 1 for fence, status in TIMELINE]
    yield (f"tokens 33, 32 (stale), 33 again, 34: accepted {accepted}, expected [True, False, False, True]",
           accepted == [True, False, False, True])
    yield f"the row holds 34's write (got {_fenced_row(engine)})", _fenced_row(engine) == (34, "shipped by 34")
    fences = {name: 100 + n for n, name in enumerate(race.caller_names(FENCED_HOLDERS), start=1)}
    race.run(lambda caller: _fenced_write(engine, sql, fences[caller.name], f"holder {fences[caller.name]}"),
             callers=FENCED_HOLDERS)
    newest = 100 + FENCED_HOLDERS
    yield (f"{FENCED_HOLDERS} holders at once (tokens 101..{newest}): the newest token's write is the one left "
           f"(got {_fenced_row(engine)})"), _fenced_row(engine) == (newest, f"holder {newest}")


@exercise("acquire_script",
          concept="the lock and its fencing token must be taken in one step: a holder that pauses between SET NX "
                  "and INCR gets its token after a later holder got a bigger one",
          outline="a Lua script: if SET KEYS[1] ARGV[1] NX PX ARGV[2] succeeds, return INCR KEYS[2]; otherwise "
                  "return false (nil), without touching the counter")
def check_acquire_script(acquire_script: Callable[[], str]) -> Iterator[tuple[str, bool]]:
    client = backends.redis().new_client()
    lock = f"exercise:lock:{uuid.uuid4().hex}"
    fence = f"{lock}:fence"
    script = client.register_script(acquire_script())

    def acquire(token: str) -> Any:
        return script(keys=[lock, fence], args=[token, 5000])

    first = acquire("first")
    yield f"a free lock is taken with fencing token 1 (got {first!r})", first == 1
    yield "... holding your token, with a lease (PX)", client.get(lock) == b"first" and 0 < client.pttl(lock) <= 5000
    refused = acquire("second")
    yield f"a held lock is refused with nil (got {refused!r})", refused is None
    yield f"... and the refusal took no token (counter {client.get(fence)!r}, expected b'1')", client.get(fence) == b"1"
    client.delete(lock)
    result = race.run(lambda caller: acquire(caller.name), callers=FENCED_HOLDERS)
    winners = [v for v in result.results.values() if v is not None]
    yield f"{FENCED_HOLDERS} callers at once on a free lock: one wins, with token 2 (got {winners})", winners == [2]
    client.delete(lock)
    yield "released, the next holder gets token 3", acquire("next") == 3
    client.delete(lock, fence)
