"""Accounts: the seeded demo users (data/api/users.json) and the e-mail + password login.

The login answers the same 401 for an unknown e-mail and a wrong password, in the same time
(`dummy_hash`), so it cannot be used to find out who has an account.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from course_lib.auth.passwords import UNUSABLE, dummy_hash, hash_password, needs_rehash, verify_password
from course_lib.auth.schema import users
from course_lib.auth.tokens import AuthError
from course_lib.backends.sql_backend import inserted_id
from course_lib.clock import utc_now

SEED_FILE = Path(__file__).resolve().parents[2] / "data" / "api" / "users.json"


@dataclass(frozen=True)
class DemoUser:
    id: int
    email: str
    name: str
    password: str  # public demo password, from the seed file


def create_user(engine: Engine, email: str, name: str, password: str | None, role: str = "learner",
                password_hash: str | None = None) -> int:
    """A new account. `password_hash` (precomputed) skips the ~0.6 s of scrypt; `password=None` without
    one makes an account that cannot log in (benchmark users get tokens directly)."""
    if password_hash is None:
        password_hash = hash_password(password) if password is not None else UNUSABLE
    with engine.begin() as conn:
        return inserted_id(conn.execute(sa.insert(users).values(
            email=email.lower(), name=name, password_hash=password_hash, role=role, created_at=utc_now())))


def seed_users(engine: Engine, path: Path = SEED_FILE) -> list[DemoUser]:
    """Create the demo accounts (the tables must be empty, e.g. just after `reset`)."""
    entries = json.loads(path.read_text())["users"]
    # The seed file carries each public password's hash, made once with the current parameters: seeding
    # costs no scrypt (tests and notebooks reseed often), and a login still verifies at full cost.
    return [DemoUser(create_user(engine, u["email"], u["name"], u["password"], u.get("role", "learner"),
                                 password_hash=u.get("password_hash")),
                     u["email"].lower(), u["name"], u["password"]) for u in entries]


def check_credentials(engine: Engine, email: str, password: str) -> int:
    """The user id for a correct e-mail and password, else AuthError(401)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(users.c.id, users.c.password_hash)
                           .where(users.c.email == email.strip().lower())).first()
    ok = verify_password(password, row.password_hash if row else dummy_hash())
    if row is None or not ok:
        raise AuthError(401, "Invalid credentials", "the e-mail or password is wrong (demo accounts are listed "
                        "in data/api/users.json)")
    if needs_rehash(row.password_hash):  # made under older parameters: upgrade it now, while we know the password
        with engine.begin() as conn:
            conn.execute(sa.update(users).where(users.c.id == row.id).values(password_hash=hash_password(password)))
    return row.id
