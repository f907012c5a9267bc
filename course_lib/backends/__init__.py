"""Connections to the three backends every lesson uses: SQL, Redis and S3.

Each is resolved once per process, on first use, by the order of docs/architecture.md (explicit URL, standard
loopback port, embedded fallback) and shut down at exit. `describe()` reports what was chosen,
for `course doctor` and notebook 00.

    from course_lib import backends
    engine = backends.sql().engine
    r = backends.redis().client
    s3 = backends.s3().new_client()
"""

from __future__ import annotations

import atexit
import threading
from dataclasses import dataclass

from course_lib.backends import redis_backend, s3_backend, settings, sql_backend
from course_lib.backends.errors import BackendUnavailable
from course_lib.backends.redis_backend import RedisBackend
from course_lib.backends.s3_backend import S3Backend
from course_lib.backends.sql_backend import SqlBackend

__all__ = [
    "BackendStatus",
    "BackendUnavailable",
    "RedisBackend",
    "S3Backend",
    "SqlBackend",
    "describe",
    "redis",
    "s3",
    "settings",
    "shutdown",
    "sql",
]

_lock = threading.Lock()
_cache: dict[str, SqlBackend | RedisBackend | S3Backend] = {}
_resolvers = {"SQL": sql_backend.resolve, "Redis": redis_backend.resolve, "S3": s3_backend.resolve}


def _get(name: str):
    with _lock:
        if name not in _cache:
            _cache[name] = _resolvers[name]()  # type: ignore[assignment]  # each resolver returns its backend
        return _cache[name]


def sql() -> SqlBackend:
    """The SQL backend for this process (MySQL/MariaDB, or the embedded SQLite file)."""
    return _get("SQL")


def redis() -> RedisBackend:
    """The Redis backend for this process (a server, a private redis-server, or the emulator)."""
    return _get("Redis")


def s3() -> S3Backend:
    """The S3 backend for this process (COURSE_S3_ENDPOINT, or moto's server in-process)."""
    return _get("S3")


@dataclass(frozen=True)
class BackendStatus:
    """One row of `course doctor`'s table."""

    backend: str
    ok: bool
    mode: str  # "real server", "embedded" or "unavailable"
    server: str
    version: str
    url: str
    note: str  # what to do: how to get the real service, or how to fix the error


_WHY_EMBEDDED = {
    "SQL": "embedded fallback; for the real thing: " + sql_backend.INSTALL_HINT,
    "Redis": "embedded fallback; for the real thing: " + redis_backend.INSTALL_HINT,
    "S3": "embedded fallback; set COURSE_S3_ENDPOINT (+ AWS_ACCESS_KEY_ID/SECRET) for MinIO or AWS",
}


def describe() -> list[BackendStatus]:
    """Resolve every backend (reusing what is already resolved) and report each, errors included."""
    rows = []
    for name in _resolvers:
        try:
            b = _get(name)
        except BackendUnavailable as exc:
            rows.append(BackendStatus(name, False, "unavailable", "-", "-", "-", " ".join(exc.message.split())))
            continue
        note = getattr(b, "note", "") or (_WHY_EMBEDDED[name] if b.embedded else "ok")
        rows.append(BackendStatus(name, True, "embedded" if b.embedded else "real server", b.server, b.version, b.url,
                                  note))
    return rows


def shutdown() -> None:
    """Dispose of pools and stop every private server this process started."""
    with _lock:
        for backend in _cache.values():
            if isinstance(backend, SqlBackend):
                backend.engine.dispose()
            else:
                backend.close()
        _cache.clear()


atexit.register(shutdown)
