"""Sanctum-style tokens: the format, hashing at rest, expiry, revocation, abilities, 401 vs 403.

Runs on both SQL backends: the embedded SQLite file and, when reachable, the real MariaDB.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from course_lib.api.tables import reset_tables
from course_lib.auth import (
    AuthError,
    TokenService,
    check_credentials,
    create_user,
    hash_password,
    seed_users,
    verify_password,
)
from course_lib.auth.passwords import ScryptCost, needs_rehash
from course_lib.auth.schema import users
from course_lib.auth.tokens import SECRET_LENGTH, parse_bearer, secret_hash
from course_lib.clock import ManualClock


@pytest.fixture
def engine(sql_engine):
    reset_tables(sql_engine)
    return sql_engine


@pytest.fixture
def ada(engine):
    return seed_users(engine)[0]


def status_of(fn) -> int:
    with pytest.raises(AuthError) as caught:
        fn()
    return caught.value.status


def test_token_has_sanctum_shape_and_only_its_hash_is_stored(engine, ada):
    token = TokenService(engine).create(ada.id, "web")
    token_id, _, secret = token.plain_text.partition("|")
    assert int(token_id) == token.id and len(secret) == SECRET_LENGTH and secret.isalnum()
    entropy, checksum = secret[:40], secret[40:]
    assert checksum == f"{zlib.crc32(entropy.encode()):08x}", "Sanctum 4: 40 characters, then their crc32b"
    row = TokenService(engine).stored_row(token.id)
    assert row["token_hash"] == secret_hash(secret)
    assert secret not in repr(row) and token.plain_text not in repr(token)


def test_authenticate_finds_the_user_and_records_last_use(engine, ada):
    service = TokenService(engine)
    token = service.create(ada.id, "web", ["orders:read"])
    who = service.authenticate(f"Bearer {token.plain_text}")
    assert (who.user_id, who.email, who.abilities) == (ada.id, ada.email, ("orders:read",))
    assert service.stored_row(token.id)["last_used_at"] is not None


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer nopipe", "Bearer x|" + "a" * 40,
                                    "Bearer 1|short", "Bearer 1|" + "a" * 41,
                                    "Bearer 1|" + "a" * 40,  # Sanctum 2's format: no checksum
                                    "Bearer 1|" + "a" * 40 + "00000000"])  # a checksum that does not match
def test_malformed_headers_are_401_with_a_hint(header):
    with pytest.raises(AuthError) as caught:
        parse_bearer(header)
    assert caught.value.status == 401 and "token" in caught.value.detail.lower()


def test_a_prefix_is_part_of_the_secret_as_in_sanctum(engine, ada):
    service = TokenService(engine, prefix="crs_")
    token = service.create(ada.id, "web", ["orders:read"])
    secret = token.plain_text.split("|", 1)[1]
    assert secret.startswith("crs_") and len(secret) == 4 + 40 + 8
    assert service.authenticate(f"Bearer {token.plain_text}").user_id == ada.id
    with pytest.raises(AuthError, match="Malformed"):
        service.authenticate(f"Bearer {token.id}|{secret.removeprefix('crs_')}")


def test_wrong_secret_and_unknown_id_look_the_same(engine, ada):
    service = TokenService(engine)
    token = service.create(ada.id, "web")
    wrong_secret = f"{token.id}|" + "x" * 40 + f"{zlib.crc32(b'x' * 40):08x}"  # well formed, not ours
    unknown_id = f"{token.id + 99}|" + token.plain_text.split("|")[1]
    errors = []
    for header in (wrong_secret, unknown_id):
        with pytest.raises(AuthError) as caught:
            service.authenticate(f"Bearer {header}")
        errors.append((caught.value.status, caught.value.title))
    assert errors == [(401, "Invalid token")] * 2


def test_expired_token_is_401(engine, ada):
    clock = ManualClock()
    service = TokenService(engine, clock=clock)
    token = service.create(ada.id, "web", lifetime=timedelta(minutes=5))
    service.authenticate(f"Bearer {token.plain_text}")
    clock.advance(301)
    assert status_of(lambda: service.authenticate(f"Bearer {token.plain_text}")) == 401


def test_revoked_token_stops_working_and_only_its_owner_can_revoke(engine):
    ada, grace, *_ = seed_users(engine)
    service = TokenService(engine)
    token = service.create(ada.id, "web")
    assert service.revoke(grace.id, token.id) is False  # someone else's token: "no such token"
    service.authenticate(f"Bearer {token.plain_text}")
    assert service.revoke(ada.id, token.id) is True
    assert status_of(lambda: service.authenticate(f"Bearer {token.plain_text}")) == 401


def test_missing_ability_is_403_not_401(engine, ada):
    service = TokenService(engine)
    who = service.authenticate(f"Bearer {service.create(ada.id, 'ci', ['orders:read']).plain_text}")
    who.require("orders:read")
    assert status_of(lambda: who.require("orders:create")) == 403


def test_unknown_ability_is_refused_at_creation(engine, ada):
    with pytest.raises(ValueError, match="unknown abilities"):
        TokenService(engine).create(ada.id, "web", ["orders:delete"])


def test_passwords_verify_and_login_hides_which_part_was_wrong(engine, ada):
    stored = hash_password("s3cret")
    assert verify_password("s3cret", stored) and not verify_password("S3cret", stored)
    assert not verify_password("s3cret", "md5$nonsense")
    assert check_credentials(engine, ada.email.upper(), ada.password) == ada.id
    details = set()
    for email, password in ((ada.email, "wrong"), ("nobody@example.com", ada.password)):
        with pytest.raises(AuthError) as caught:
            check_credentials(engine, email, password)
        details.add((caught.value.status, caught.value.detail))
    assert len(details) == 1 and details.pop()[0] == 401


def test_passwords_hash_with_owasps_scrypt_minimum():
    """OWASP Password Storage Cheat Sheet, scrypt: N=2^17, r=8, p=1 at least."""
    stored = hash_password("correct horse")
    assert stored.split("$")[1:4] == [str(2**17), "8", "1"] and verify_password("correct horse", stored)


def test_raising_the_cost_still_hashes_and_verifies():
    """hashlib.scrypt refuses to use more than `maxmem`; the cost says how much it needs."""
    higher = ScryptCost(n=2**18)
    stored = hash_password("correct horse", higher)
    assert verify_password("correct horse", stored) and not verify_password("wrong", stored)


def test_a_login_with_an_old_cost_rehashes_the_password(engine):
    old = hash_password("analytical-engine-1843", ScryptCost(n=2**14))
    user_id = create_user(engine, "old@example.com", "Old Hash", None, password_hash=old)
    assert needs_rehash(old)
    assert check_credentials(engine, "old@example.com", "analytical-engine-1843") == user_id
    with engine.connect() as conn:
        now_stored = conn.execute(sa.select(users.c.password_hash).where(users.c.id == user_id)).scalar_one()
    assert now_stored != old and not needs_rehash(now_stored)
    assert check_credentials(engine, "old@example.com", "analytical-engine-1843") == user_id


def test_an_account_without_a_usable_password_never_logs_in(engine):
    create_user(engine, "bench@example.com", "Bench", None)
    with pytest.raises(AuthError):
        check_credentials(engine, "bench@example.com", "")
