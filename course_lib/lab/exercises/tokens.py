"""Exercises for notebook 07: 401 or 403, verifying a token against its stored hash, Sanctum's token shape."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from course_lib.auth.tokens import new_secret, secret_hash
from course_lib.lab.exercises import exercise

StatusFor = Callable[[str, set[str], str], int]

# (token state, the token's abilities, the ability the route needs) -> the status the API answers.
CASES: list[tuple[str, set[str], str, int]] = [
    ("missing", set(), "orders:read", 401),
    ("malformed", set(), "orders:read", 401),
    ("unknown", set(), "orders:read", 401),
    ("revoked", {"orders:read"}, "orders:read", 401),
    ("expired", {"orders:read"}, "orders:read", 401),
    ("valid", {"orders:read"}, "orders:read", 200),
    ("valid", {"orders:read"}, "orders:create", 403),
    ("valid", set(), "orders:read", 403),
    ("valid", {"*"}, "orders:create", 200),
    ("expired", {"*"}, "orders:create", 401),
]


@exercise("auth_status",
          concept="authentication (who are you?) comes before authorisation (may you?): 401 and 403 answer "
                  "different questions",
          outline="401 whenever the token does not identify anyone right now (missing, malformed, "
          "unknown, revoked, expired); only then look at abilities: 403 if the needed one (or '*') is absent, "
          "else 200")
def check_auth_status(status_for: StatusFor) -> Iterator[tuple[str, bool]]:
    for state, abilities, needed, expected in CASES:
        got = status_for(state, set(abilities), needed)
        yield f"{state} token with {sorted(abilities) or 'no abilities'} asking for {needed}: {expected} (got {got})", \
            got == expected


class _WatchedHash(str):
    """A stored hash that notices `==` or `!=`: those stop at the first differing character, so how long a
    wrong guess takes tells an attacker how much of it was right. hmac.compare_digest never calls them."""

    compared_with_eq = False

    def __eq__(self, other: object) -> bool:
        _WatchedHash.compared_with_eq = True
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        _WatchedHash.compared_with_eq = True
        return str.__ne__(self, other)

    __hash__ = str.__hash__


@exercise("verify_token",
          concept="the database keeps only a SHA-256 of each token (a stolen table gives no usable token); a "
                  "presented token is hashed and compared in constant time, so timing leaks nothing",
          outline="hmac.compare_digest(stored_hash, hashlib.sha256(secret.encode()).hexdigest())")
def check_verify_token(verify: Callable[[str, str], bool]) -> Iterator[tuple[str, bool]]:
    secret = new_secret()
    stored = secret_hash(secret)  # what TokenService.create writes to personal_access_tokens.token_hash
    yield "the token that was issued verifies", verify(stored, secret) is True
    typo = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    yield "one character off: refused", verify(stored, typo) is False
    yield "another token: refused", verify(stored, new_secret()) is False
    yield "the stored hash itself presented as the token: refused", verify(stored, stored) is False
    _WatchedHash.compared_with_eq = False
    verify(_WatchedHash(stored), typo)
    yield "compared in constant time (hmac.compare_digest), not with == or !=", not _WatchedHash.compared_with_eq


@exercise("well_formed_token",
          concept="Sanctum's plain-text token ends in a CRC32 of its random part: a typo or a truncated copy is "
                  "refused before any database lookup, and secret scanners can recognise leaked tokens",
          outline="exactly 40 ASCII letters/digits then 8 lowercase hex digits; the 8 must equal "
                  "f'{zlib.crc32(first_40.encode()):08x}'")
def check_well_formed(well_formed: Callable[[str], bool]) -> Iterator[tuple[str, bool]]:
    issued = [new_secret() for _ in range(5)]
    yield "five freshly issued tokens are well formed", all(well_formed(s) is True for s in issued)
    good = issued[0]
    flipped = ("B" if good[0] != "B" else "C") + good[1:]
    bad = {"a changed character (the checksum no longer matches)": flipped,
           "a checksum in upper case": good[:40] + good[40:].upper() if good[40:] != good[40:].upper() else flipped,
           "one character short": good[1:],
           "a trailing newline": good + "\n",
           "Arabic-Indic digits in the random part": "\u0661" + good[1:],
           "empty": ""}
    for what, text in bad.items():
        yield f"{what}: refused", well_formed(text) is False
