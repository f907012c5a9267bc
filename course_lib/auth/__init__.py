"""Sanctum-style API tokens: accounts, hashed personal access tokens, abilities (notebook 07).

    from course_lib.auth import TokenService, check_credentials, seed_users
"""

from __future__ import annotations

from course_lib.auth.passwords import hash_password, verify_password
from course_lib.auth.schema import metadata
from course_lib.auth.tokens import (
    ABILITIES,
    Authenticated,
    AuthError,
    NewToken,
    TokenService,
    parse_bearer,
    secret_hash,
)
from course_lib.auth.users import DemoUser, check_credentials, create_user, seed_users

__all__ = [
    "ABILITIES",
    "AuthError",
    "Authenticated",
    "DemoUser",
    "NewToken",
    "TokenService",
    "check_credentials",
    "create_user",
    "hash_password",
    "metadata",
    "parse_bearer",
    "secret_hash",
    "seed_users",
    "verify_password",
]
