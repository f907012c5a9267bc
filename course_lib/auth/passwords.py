"""Password hashing for the accounts: scrypt, salted, with its parameters stored beside the hash.

scrypt is in the standard library and is memory-hard, so a stolen hash costs an attacker memory as
well as time per guess. The parameters are OWASP's minimum for scrypt (Password Storage Cheat Sheet:
N=2^17, r=8, p=1: 128 MiB and about 0.6 s per hash on this course's 2-core machines). The stored
form `scrypt$n$r$p$salt$hash` keeps old hashes verifiable after the parameters change, and a login
with a hash made under other parameters rehashes it (`needs_rehash`), as Laravel's Hash::needsRehash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

SALT_BYTES = 16
# A stored "hash" that no password matches: for accounts that never log in (benchmark users).
UNUSABLE = "!"


@dataclass(frozen=True)
class ScryptCost:
    n: int = 2**17
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        """The memory scrypt needs (128 * r * (n + p + 2) bytes) with room to spare; hashlib refuses
        anything above its `maxmem` (32 MiB by default), which is why raising n used to break hashing."""
        return 128 * self.r * (self.n + self.p + 2) + 1024 * 1024


OWASP = ScryptCost()


def _scrypt(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32)


def hash_password(password: str, cost: ScryptCost = OWASP) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, cost)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${cost.n}${cost.r}${cost.p}${b64(salt)}${b64(digest)}"


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return None
        return ScryptCost(int(n), int(r), int(p)), base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        return None


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; compared in constant time."""
    parsed = _parse(stored)
    if parsed is None:
        return False
    cost, salt, digest = parsed
    return hmac.compare_digest(_scrypt(password, salt, cost), digest)


def needs_rehash(stored: str, cost: ScryptCost = OWASP) -> bool:
    """True when `stored` was made with other parameters: hash the password again at the next login."""
    parsed = _parse(stored)
    return parsed is not None and parsed[0] != cost


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so "no such user" costs the same time
    as "wrong password" and the login endpoint cannot tell anyone who has an account."""
    return hash_password(secrets.token_urlsafe(16))
