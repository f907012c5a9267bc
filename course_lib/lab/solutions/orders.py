"""Reference solutions for notebook 02: compare-and-delete, the fenced UPDATE, the fenced acquire (one script each)."""

from __future__ import annotations

import redis

from course_lib.orders.locks import RELEASE_SCRIPT


def safe_release(client: redis.Redis, key: str, token: str) -> bool:
    return bool(client.eval(RELEASE_SCRIPT, 1, key, token))


def fenced_sql() -> str:
    # The token check and the write in one statement: a stale holder's write matches no row.
    return "UPDATE exercise_fenced SET fence = :fence, status = :status WHERE id = :id AND fence < :fence"


def acquire_script() -> str:
    # SET NX and INCR in one script: nothing runs between them, so tokens grow in the order holders won.
    return ("if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then "
            "return redis.call('incr', KEYS[2]) end return false")
