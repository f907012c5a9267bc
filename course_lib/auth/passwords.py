"""Password hashing for the seeded accounts: scrypt, salted, with its parameters stored beside the hash.

scrypt is in the standard library and is memory-hard, so a stolen hash costs an attacker memory as
well as time per guess. The stored form `scrypt$n$r$p$salt$hash` keeps old hashes verifiable after
the parameters are raised.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

# n=2**14, r=8: 16 MiB and ~40 ms per hash on this course's 2-core machines; OWASP's minimum for
# scrypt is n=2**17 in production. The course keeps logins fast so tests and notebooks stay quick.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against when the e-mail is unknown, so "no such user" costs the same time
    as "wrong password" and the login endpoint cannot tell anyone who has an account."""
    return hash_password(secrets.token_urlsafe(16))
