"""Exercise for notebook 02: releasing a Redis lock without releasing someone else's."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import redis

from course_lib import backends
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
