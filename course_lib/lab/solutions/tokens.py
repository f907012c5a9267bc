"""Reference solution for notebook 07's exercise: 401 before 403."""

from __future__ import annotations


def auth_status(token_state: str, abilities: set[str], needed: str) -> int:
    if token_state != "valid":
        return 401
    return 200 if "*" in abilities or needed in abilities else 403
