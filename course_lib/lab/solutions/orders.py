"""Reference solution for notebook 02's exercise: compare-and-delete as one Lua script."""

from __future__ import annotations

import redis

from course_lib.orders.locks import RELEASE_SCRIPT


def safe_release(client: redis.Redis, key: str, token: str) -> bool:
    return bool(client.eval(RELEASE_SCRIPT, 1, key, token))
