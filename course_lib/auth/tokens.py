"""Sanctum-style personal access tokens: `{id}|{prefix}{40 random characters}{crc32b}`, shown once, stored hashed.

The plain-text form is Laravel Sanctum 4's (`HasApiTokens::createToken`): an optional prefix
(`sanctum.token_prefix`, empty by default; a distinctive one lets secret scanners spot leaked tokens),
40 random letters and digits, and the CRC-32 of those 40 as 8 lowercase hex digits, so a mistyped token
is refused without a database lookup. The row id goes before the pipe; sha256 of everything after it is
what the database keeps.

    token = tokens.create(user_id, "web", ["orders:create"])   # token.plain_text: give it to the client
    who = tokens.authenticate("Bearer " + token.plain_text)      # -> Authenticated, or raises AuthError

Why each piece:
* The id before the pipe lets the server find the row by primary key, then compare hashes, so
  lookup cost does not depend on the secret.
* Only sha256(secret) is stored. The secret is 40 characters from 62 (~238 bits): far beyond
  guessing, so a fast hash is enough; a slow password hash would cost every request ~40 ms.
* The comparison is `hmac.compare_digest`, whose time does not depend on where the first
  differing character is (notebook 07 measures what `==` leaks).
* 401 means "we do not know who you are" (missing, malformed, unknown, revoked or expired token);
  403 means "we know, and you may not": a valid token without the ability.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from course_lib.auth.schema import personal_access_tokens as tokens_table
from course_lib.auth.schema import users
from course_lib.backends.sql_backend import holds_write_lock, inserted_id
from course_lib.clock import utc_now

ALPHABET = string.ascii_letters + string.digits
ENTROPY_LENGTH = 40  # Sanctum's Str::random(40)
CHECKSUM_LENGTH = 8  # hash('crc32b', $entropy): 8 lowercase hex digits
SECRET_LENGTH = ENTROPY_LENGTH + CHECKSUM_LENGTH  # with the default, empty, prefix
TOKEN_PREFIX = ""  # Sanctum's default token_prefix
ABILITIES = ("orders:create", "orders:read", "uploads:write")
# Abilities that change the server for everyone (the demo's latency and injected failures): only an
# account whose role is "instructor" may hold them, and only by asking for them by name ("*" is not enough).
INSTRUCTOR_ABILITIES = ("demo:control",)
INSTRUCTOR = "instructor"
DEFAULT_ABILITIES = ABILITIES
# Sanctum's tokens never expire unless configured; a course about production habits sets a limit.
DEFAULT_LIFETIME = timedelta(days=30)
# last_used_at is for humans ("used 3 minutes ago"); writing it on every request would turn every
# read into a write. Minute precision costs one UPDATE per token per minute at most.
LAST_USED_PRECISION = timedelta(minutes=1)

Clock = Callable[[], datetime]


class AuthError(Exception):
    """A request that cannot be authenticated (401) or is not allowed (403). `detail` says what to do."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail


@dataclass(frozen=True)
class NewToken:
    """A freshly created token. `plain_text` exists only here: the database keeps its hash."""

    id: int
    plain_text: str
    abilities: tuple[str, ...]
    expires_at: datetime | None

    def __repr__(self) -> str:  # a token printed by accident in a notebook or a log must not leak
        return f"NewToken(id={self.id}, plain_text='{self.id}|***', abilities={self.abilities})"


@dataclass(frozen=True)
class Authenticated:
    """Who is calling, and with which token."""

    user_id: int
    email: str
    name: str
    token_id: int
    token_name: str
    abilities: tuple[str, ...]
    expires_at: datetime | None

    def can(self, ability: str) -> bool:
        return ability in self.abilities or ("*" in self.abilities and ability not in INSTRUCTOR_ABILITIES)

    def require(self, ability: str) -> None:
        """Raise 403 unless this token carries `ability`."""
        if not self.can(ability):
            raise AuthError(403, "Missing ability",
                            f"this token may {', '.join(self.abilities) or 'do nothing'}; "
                            f"this request needs {ability!r}: create a token with that ability")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _unauthenticated(title: str, detail: str) -> AuthError:
    return AuthError(401, title, detail)


# ASCII digits only: str.isdigit() also accepts '²' (then int() fails: a 500) and '١٢' (read as 12).
_TOKEN_ID = re.compile(r"[0-9]{1,18}")


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    """The part after the pipe: prefix, 40 random characters, and their CRC-32 in hex (Sanctum 4)."""
    entropy = "".join(secrets.choice(ALPHABET) for _ in range(ENTROPY_LENGTH))
    return f"{prefix}{entropy}{zlib.crc32(entropy.encode()):08x}"


def well_formed_secret(secret: str, prefix: str = TOKEN_PREFIX) -> bool:
    """True when `secret` has the shape of one we issued and its checksum matches (no database needed)."""
    body = secret.removeprefix(prefix) if prefix else secret
    if (prefix and not secret.startswith(prefix)) or not _SECRET_BODY.fullmatch(body):
        return False
    entropy, checksum = body[:ENTROPY_LENGTH], body[ENTROPY_LENGTH:]
    return f"{zlib.crc32(entropy.encode()):08x}" == checksum


_SECRET_BODY = re.compile(f"[A-Za-z0-9]{{{ENTROPY_LENGTH}}}[0-9a-f]{{{CHECKSUM_LENGTH}}}")


def parse_bearer(header: str | None, prefix: str = TOKEN_PREFIX) -> tuple[int, str]:
    """(token id, secret) from an `Authorization: Bearer {id}|{secret}` header, or a 401 AuthError."""
    if not header:
        raise _unauthenticated("Missing token",
                               "send `Authorization: Bearer <token>`; get a token from POST /api/tokens")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _unauthenticated("Malformed Authorization header",
                               "use the Bearer scheme with your token: `Authorization: Bearer <id>|<secret>`")
    token_id, sep, secret = value.strip().partition("|")
    if not sep or not _TOKEN_ID.fullmatch(token_id) or not well_formed_secret(secret, prefix):
        raise _unauthenticated("Malformed token", f"a token looks like `12|{prefix}` followed by 40 letters and "
                               "digits and 8 hex digits, exactly as POST /api/tokens returned it")
    return int(token_id), secret


# Built once: the statement every authenticated request runs (SQLAlchemy then reuses its compiled form).
_TOKEN_LOOKUP = (sa.select(*[tokens_table.c[name] for name in ("id", "user_id", "name", "token_hash", "abilities",
                                                                 "last_used_at", "expires_at")],
                            users.c.email, users.c.name.label("user_name"))
                 .join(users, users.c.id == tokens_table.c.user_id)
                 .where(tokens_table.c.id == sa.bindparam("token_id")))


class TokenService:
    """Create, check and revoke tokens on a SQL engine."""

    def __init__(self, engine: Engine, clock: Clock = utc_now, prefix: str = TOKEN_PREFIX) -> None:
        self.engine, self.clock, self.prefix = engine, clock, prefix

    def create(self, user_id: int, name: str, abilities: Iterable[str] = DEFAULT_ABILITIES,
               lifetime: timedelta | None = DEFAULT_LIFETIME) -> NewToken:
        """A new token for `user_id`; the only moment its plain text exists."""
        abilities = tuple(abilities)
        unknown = sorted(set(abilities) - {*ABILITIES, *INSTRUCTOR_ABILITIES, "*"})
        if unknown:
            raise ValueError(f"unknown abilities {unknown}; choose from {list(ABILITIES)} or '*'")
        if set(abilities) & set(INSTRUCTOR_ABILITIES) and self._role(user_id) != INSTRUCTOR:
            raise AuthError(403, "Instructors only", f"{sorted(set(abilities) & set(INSTRUCTOR_ABILITIES))} "
                            "change the demo server for everyone; log in with an instructor account")
        secret = new_secret(self.prefix)
        now = self.clock()
        expires_at = now + lifetime if lifetime is not None else None
        with self.engine.begin() as conn:
            token_id = inserted_id(conn.execute(sa.insert(tokens_table).values(
                user_id=user_id, name=name, token_hash=secret_hash(secret), abilities=json.dumps(list(abilities)),
                expires_at=expires_at, created_at=now,
            )))
        return NewToken(token_id, f"{token_id}|{secret}", abilities, expires_at)

    def _role(self, user_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(users.c.role).where(users.c.id == user_id)).scalar_one_or_none()

    def authenticate(self, authorization: str | None, conn: Connection | None = None) -> Authenticated:
        """The caller behind an Authorization header, or AuthError(401). With `conn`, the lookup runs on it and
        leaves its transaction open for the caller to go on with (the API's create-order claims in it, and
        that claim's COMMIT ends both): one checkout, one pre-ping and one COMMIT fewer per request. Not on
        SQLite, where an open transaction holds the write lock: there the lookup commits at once."""
        token_id, secret = parse_bearer(authorization, self.prefix)
        if conn is None:
            with self.engine.connect() as own:
                row = own.execute(_TOKEN_LOOKUP, {"token_id": token_id}).first()
        else:
            row = conn.execute(_TOKEN_LOOKUP, {"token_id": token_id}).first()
            if holds_write_lock(conn):  # SQLite: the request's next step (the Redis lock) must not wait holding it
                conn.commit()
        # Hash and compare even when the id is unknown, so both failures take the same time.
        stored = row.token_hash if row is not None else "0" * 64
        if not hmac.compare_digest(stored, secret_hash(secret)) or row is None:
            raise _unauthenticated("Invalid token", "this token is unknown or was revoked; create a new one")
        now = self.clock()
        if row.expires_at is not None and row.expires_at <= now:
            raise _unauthenticated("Token expired", f"this token expired at {row.expires_at.isoformat()}Z; "
                                   "create a new one")
        self._touch(row.id, row.last_used_at, now, conn)
        return Authenticated(row.user_id, row.email, row.user_name, row.id, row.name,
                             tuple(json.loads(row.abilities)), row.expires_at)

    def _touch(self, token_id: int, last_used_at: datetime | None, now: datetime, conn: Connection | None) -> None:
        """Record the use (at most once per LAST_USED_PRECISION), committed at once: on the caller's connection
        when given (another connection would wait for the lock that connection's open transaction may hold)."""
        if last_used_at is not None and now - last_used_at < LAST_USED_PRECISION:
            return
        touch = sa.update(tokens_table).where(tokens_table.c.id == token_id).values(last_used_at=now)
        if conn is not None:
            conn.execute(touch)
            conn.commit()
            return
        with self.engine.begin() as own:
            own.execute(touch)

    def revoke(self, user_id: int, token_id: int) -> bool:
        """Delete `user_id`'s token `token_id`. False if there is no such token of theirs (another
        user's token id is treated as unknown, so ids cannot be probed)."""
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(tokens_table).where(tokens_table.c.id == token_id,
                                                              tokens_table.c.user_id == user_id)).rowcount == 1

    def stored_row(self, token_id: int) -> dict:
        """The token's database row, as an operator would see it (for notebook 07's "what is at rest")."""
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(tokens_table).where(tokens_table.c.id == token_id)).one()._mapping)
