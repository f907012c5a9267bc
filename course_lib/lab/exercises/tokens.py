"""Exercise for notebook 07: 401 or 403, and which status for which token."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
