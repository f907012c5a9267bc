"""The Redis backend: a real server, a private redis-server process, or an in-process emulator.

Resolution (docs/architecture.md, "Backends"): `COURSE_REDIS_URL`; else a server on 127.0.0.1:6379; else, when the
`redis-server` binary exists, a private server on a free loopback port (a real Redis, just ours,
stopped at exit); else fakeredis with Lua, so EVAL scripts and redis-py's Lock still work.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from course_lib.backends import settings
from course_lib.backends.errors import BackendUnavailable
from course_lib.backends.owned import OwnedProcess

START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
INSTALL_HINT = (
    "start Redis (`sudo apt-get install -y redis-server` then `" + START_REDIS + "`, "
    "or `brew install redis && brew services start redis`)"
)
# A fresh redis-server answers PING within ~50 ms; 10 s covers a cold, loaded laptop.
PRIVATE_SERVER_START_TIMEOUT_S = 10
# Socket timeouts: long enough for a blocking lesson command, short enough that a dead server
# is reported instead of hanging a cell.
SOCKET_TIMEOUT_S = 5


@dataclass
class RedisBackend:
    client: redis.Redis
    embedded: bool
    server: str  # "Redis", "Redis (private redis-server)" or "fakeredis emulator"
    version: str
    url: str  # masked, safe to print
    _factory: Callable[[], redis.Redis] = field(repr=False)
    _process: OwnedProcess | None = field(default=None, repr=False)
    note: str = ""  # why a fallback was chosen, when it was

    def new_client(self) -> redis.Redis:
        """Another client on the same server, e.g. one per simulated worker or HTTP server."""
        return self._factory()

    def close(self) -> None:
        """Close the client and stop the private redis-server if we started one."""
        self.client.close()
        if self._process:
            self._process.stop()


def resolve(cfg: settings.Settings | None = None) -> RedisBackend:
    """Pick the Redis backend in the resolution order of docs/architecture.md; raise BackendUnavailable if none fits."""
    cfg = cfg or settings.current()
    note = ""
    if not cfg.embedded_only:
        if cfg.redis_url:
            return connect(cfg.redis_url, variable=settings.REDIS_URL)
        if settings.port_open("127.0.0.1", 6379):
            try:
                return connect(_learner_url(settings.REDIS_DEFAULT_URL, cfg.learner), variable=None)
            except BackendUnavailable as exc:
                if cfg.require_services:
                    raise
                note = f"a server on 127.0.0.1:6379 did not answer as Redis ({exc.what_failed}); set COURSE_REDIS_URL"
        elif cfg.require_services:
            raise BackendUnavailable(
                "Redis", "COURSE_REQUIRE_SERVICES=1 but nothing listens on 127.0.0.1:6379",
                INSTALL_HINT + ", or set COURSE_REDIS_URL, or unset COURSE_REQUIRE_SERVICES",
                variable=settings.REQUIRE_SERVICES,
            )
    binary = shutil.which("redis-server")
    backend = start_private_server(binary) if binary else emulator()
    backend.note = note
    return backend


# On a shared Redis each learner gets a logical database of their own, assigned once and remembered in
# database 0: FLUSHDB, Lua scripts and every key a lesson uses then stay inside it, with no code that has to
# remember a prefix. A default Redis has 16 databases (15 learners); a workshop raises `databases`.
LEARNERS_REGISTRY = "course:learners"
# The lowest database number no learner holds, taken in one step: a script runs atomically, so two
# learners starting at once cannot be given the same number, and a removed learner's number is reused.
_ASSIGN = """
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then return tonumber(held) end
local taken = {}
for _, number in ipairs(redis.call('HVALS', KEYS[1])) do taken[tonumber(number)] = true end
local free = 1
while taken[free] do free = free + 1 end
redis.call('HSET', KEYS[1], ARGV[1], free)
return free
"""


def learner_database(client: redis.Redis, learner: str) -> int:
    """`learner`'s logical database on the server behind `client` (database 0): assigned on first use, kept
    until `forget_learner`."""
    return int(client.eval(_ASSIGN, 1, LEARNERS_REGISTRY, learner))


def on_database(client: redis.Redis, number: int) -> redis.Redis:
    """A client like `client` (same server, same credentials) on logical database `number`."""
    pool = client.connection_pool
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class,
                                                            **{**pool.connection_kwargs, "db": number}))


def forget_learner(client: redis.Redis, learner: str) -> None:
    """Empty `learner`'s database and give its number back (after a workshop)."""
    number = client.hget(LEARNERS_REGISTRY, learner)
    if number is not None:
        own = on_database(client, int(number))
        try:
            own.flushdb()
        finally:
            own.close()
        client.hdel(LEARNERS_REGISTRY, learner)


def databases(client: redis.Redis) -> int:
    """How many logical databases the server has (Redis' default 16 when CONFIG is not allowed)."""
    try:
        return int(client.config_get("databases").get("databases") or 16)
    except redis.ResponseError:
        return 16


def _learner_url(url: str, learner: str | None) -> str:
    """`url` (database 0 of the shared server), or the learner's own database on it."""
    if learner is None:
        return url
    admin = _client(url)
    try:
        number = learner_database(admin, learner)
        available = databases(admin)
    except redis.RedisError as exc:
        raise BackendUnavailable("Redis", f"could not give learner {learner!r} a database on {url} ({exc})",
                                 "check that Redis answers, or set COURSE_REDIS_URL to the learner's own") from None
    finally:
        admin.close()
    if number >= available:
        raise BackendUnavailable("Redis", f"learner {learner!r} is number {number} on {url}, which has {available} "
                                 "databases", "raise `databases` in redis.conf (a workshop of N learners needs N + 1), "
                                 "or set COURSE_REDIS_URL per learner", settings.LEARNER)
    return url.rsplit("/", 1)[0] + f"/{number}"


def connect(url: str, variable: str | None = None) -> RedisBackend:
    """A client on the Redis server at `url`; errors name `variable`."""
    masked = settings.mask_url(url)
    try:
        client = _client(url)
    except ValueError as exc:
        raise BackendUnavailable(
            "Redis", f"{masked!r} is not a Redis URL ({exc})", "use the form redis://HOST:6379/0", variable
        ) from None
    try:
        info = client.info("server")
    except redis.AuthenticationError:
        raise BackendUnavailable(
            "Redis", f"{masked} refused the password", f"put the right password in {variable or settings.REDIS_URL}",
            variable,
        ) from None
    except redis.RedisError as exc:
        target = variable or settings.REDIS_URL
        raise BackendUnavailable(
            "Redis", f"nothing usable answers at {masked} ({exc})",
            f"check host and port in {target}, or {INSTALL_HINT}", variable,
        ) from None
    return RedisBackend(client=client, embedded=False, server="Redis", version=info["redis_version"], url=masked,
                        _factory=lambda: _client(url))


def start_private_server(binary: str) -> RedisBackend:
    """A real redis-server on a free loopback port, keeping nothing on disk, stopped at exit: also when this
    process is killed (it runs under a watchdog, `backends/owned.py`), its directory removed with it."""
    port = settings.free_port()
    workdir = tempfile.mkdtemp(prefix="course-redis-")
    process = OwnedProcess(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir],
        workdir=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = _client(url)
    deadline = time.monotonic() + PRIVATE_SERVER_START_TIMEOUT_S
    while True:
        try:
            version = client.info("server")["redis_version"]
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.stop()
                err = (process.stderr.read() or b"").decode(errors="replace").strip() if process.stderr else ""
                raise BackendUnavailable(
                    "Redis", f"the private redis-server on port {port} did not start ({err or 'no answer'})",
                    INSTALL_HINT + ", or set COURSE_REDIS_URL to a running server",
                ) from None
            time.sleep(0.02)
    backend = RedisBackend(client=client, embedded=True, server="Redis (private redis-server)", version=version,
                           url=url, _factory=lambda: _client(url), _process=process)
    atexit.register(backend.close)
    return backend


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S)


def emulator() -> RedisBackend:
    import fakeredis  # imported here: only learners without any redis-server pay for it

    server = fakeredis.FakeServer(version=(7,))

    def factory() -> redis.Redis:
        return fakeredis.FakeRedis(server=server)

    # fakeredis implements no INFO command, so the version is the one it emulates.
    return RedisBackend(client=factory(), embedded=True, server="fakeredis emulator", version="7 (emulated)",
                        url="fakeredis://in-process", _factory=factory)
