"""Redis locks with leases, and fencing tokens that make a lock's failure harmless.

`RedisLock` is the single-instance lock from the Redis documentation: `SET key token NX PX lease`
takes it only if nobody holds it, with a lease so a crashed holder cannot block everyone forever;
a Lua script deletes it only if it still holds *our* random token, so a holder whose lease ran
out cannot release the next holder's lock.

The hazard no lease can fix: a holder that pauses (a GC pause, a swapped-out VM, a slow disk)
for longer than the lease still *believes* it holds the lock when it wakes up. Meanwhile another
process took the lock. Two holders, one resource. `FencedLock` hands out a fencing token with
every acquisition (INCR: strictly increasing), and the resource itself rejects writes whose
token is older than the last one it accepted (`fenced_update`). The lock saves work; the check
at the resource is what keeps the data correct. (Martin Kleppmann, "How to do distributed locking".)
"""

from __future__ import annotations

import secrets
import weakref
from dataclasses import dataclass

import redis
import sqlalchemy as sa
from redis.commands.core import Script
from sqlalchemy.engine import Connection

# Compare-and-delete in one step on the server: GET then DEL from the client would let the lease
# expire (and another process acquire) between the two calls.
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


# Take the lock and the next fencing token in one step on the server. Two calls (SET NX, then INCR)
# let a holder that pauses between them get its token after a later holder got theirs, and a
# "later holder always has a larger token" would no longer hold. KEYS: lock, fence counter.
ACQUIRE_FENCED_SCRIPT = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return redis.call('incr', KEYS[2])
end
return false
"""


@dataclass(frozen=True)
class Lease:
    """A held lock: its key, our random token (proof of ownership) and, when fenced, the fencing token."""

    key: str
    token: str
    lease_ms: int
    fence: int | None = None


_scripts: weakref.WeakKeyDictionary[redis.Redis, dict[str, Script]] = weakref.WeakKeyDictionary()


def registered(client: redis.Redis, source: str) -> Script:
    """`client.register_script(source)`, once per client and script: registering hashes the source and builds
    an object, work a lock made per request would otherwise repeat on every request."""
    per_client = _scripts.setdefault(client, {})
    if source not in per_client:
        per_client[source] = client.register_script(source)
    return per_client[source]


class RedisLock:
    """A lease-based lock on one Redis key. `acquire()` never blocks: it returns a Lease or None."""

    def __init__(self, client: redis.Redis, key: str, lease_ms: int) -> None:
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")
        self.client, self.key, self.lease_ms = client, key, lease_ms
        self._release = registered(client, RELEASE_SCRIPT)

    def acquire(self) -> Lease | None:
        token = secrets.token_hex(16)
        if self.client.set(self.key, token, nx=True, px=self.lease_ms):
            return Lease(self.key, token, self.lease_ms)
        return None

    def release(self, lease: Lease) -> bool:
        """Delete the lock if `lease` still owns it. False means the lease had expired (and maybe
        someone else holds the lock now): whatever we did under it may have overlapped theirs."""
        return bool(self._release(keys=[lease.key], args=[lease.token]))

    def remaining_ms(self) -> int:
        """Milliseconds left on whoever holds the lock now (0 when free)."""
        return max(0, int(self.client.pttl(self.key)))


class FencedLock(RedisLock):
    """A RedisLock whose every acquisition also takes the next fencing token for the resource."""

    def __init__(self, client: redis.Redis, key: str, lease_ms: int) -> None:
        super().__init__(client, key, lease_ms)
        self.fence_key = f"{key}:fence"
        self._acquire_fenced = registered(client, ACQUIRE_FENCED_SCRIPT)

    def acquire(self) -> Lease | None:
        """The lock and its fencing token, taken atomically (one script): tokens grow in the order holders
        won the lock. A fence key that Redis lost (a restart without persistence) would restart at 1;
        production keeps it durable or takes the token from the database instead."""
        token = secrets.token_hex(16)
        fence = self._acquire_fenced(keys=[self.key, self.fence_key], args=[token, self.lease_ms])
        if fence is None:
            return None
        return Lease(self.key, token, self.lease_ms, fence=int(fence))


def fenced_update(conn: Connection, table: sa.Table, row_id: int, fence: int, **values) -> bool:
    """UPDATE the row only if `fence` is newer than the last fence it accepted; True if it did.

    The table needs a `fence` column. `WHERE fence < :fence` makes the check and the write one
    atomic statement: a stale holder's write matches no row.
    """
    result = conn.execute(sa.update(table).where(table.c.id == row_id, table.c.fence < fence)
                          .values(fence=fence, **values))
    return result.rowcount == 1
