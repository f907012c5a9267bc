"""Running the course API: in a background thread for notebooks and tests, in the foreground for `course serve`.

    server = api.start()            # real uvicorn on a free loopback port
    httpx.get(server.url + "/api/me", headers=...)
    server.stop()

The thread owns its own event loop; uvicorn binds the socket before `start()` returns, so the
first request never races the server's start-up.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from course_lib import backends
from course_lib.api.app import create_app
from course_lib.api.deps import ApiConfig
from course_lib.api.tables import reset_tables
from course_lib.auth import seed_users
from course_lib.idempotency.keys import set_log_secret
from course_lib.ui.posts import seed_posts

# The secret behind the hashed idempotency keys in log lines; generated per process when unset.
LOG_SECRET_VAR = "COURSE_LOG_KEY_SECRET"
# uvicorn binds and starts in ~50 ms; 10 s covers a cold, loaded 2-core laptop importing FastAPI.
START_TIMEOUT_S = 10.0


@dataclass
class RunningServer:
    url: str
    app: FastAPI
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=START_TIMEOUT_S)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _config(app: FastAPI, **kwargs) -> uvicorn.Config:
    # access_log off: RequestLog writes the one structured line per request; uvicorn's own line
    # would print the path and query string, where clients sometimes put things they should not.
    return uvicorn.Config(app, access_log=False, log_level="warning", timeout_keep_alive=30, **kwargs)


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket whose connections send small writes at once.

    TCP_NODELAY (inherited by accepted sockets on Linux): uvicorn writes a response's head and body
    separately; with Nagle's algorithm the body waits for the client's delayed ACK, ~40 ms per
    request on loopback (docs/benchmarks.md, "TCP_NODELAY").
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def course_app(config: ApiConfig | None = None, fresh: bool = False) -> FastAPI:
    """The course API on this process's backends; fresh=True drops and recreates its tables first and
    seeds the demo accounts and posts."""
    secret = os.environ.get(LOG_SECRET_VAR)
    if secret:  # one deployment, one secret: the keys' stand-ins in logs match across its processes
        set_log_secret(secret.encode())
    engine = backends.sql().engine
    if fresh:
        reset_tables(engine)
        seed_users(engine)
        seed_posts(engine)
    return create_app(engine, backends.redis().new_client(), config)


def start(app: FastAPI | None = None, config: ApiConfig | None = None, fresh: bool = False) -> RunningServer:
    """Serve `app` (default: `course_app(config, fresh)`) on 127.0.0.1:<free port>."""
    app = app or course_app(config, fresh)
    sock = _listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"course-api-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the course API did not start on port {port} within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.01)
    return RunningServer(f"http://127.0.0.1:{port}", app, server, thread)


def serve(host: str, port: int, config: ApiConfig | None = None, fresh: bool = False, plain: bool = False) -> None:
    """Run the course API in the foreground until Ctrl-C (`course serve`); `plain=True` runs the baseline
    create-order endpoint of `course bench guards` instead (`api/plain.py`)."""
    if plain:
        from course_lib.api.plain import create_plain_app

        app = create_plain_app(backends.sql().engine)
    else:
        app = course_app(config, fresh)
    print(f"{'plain create-order' if plain else 'course API'} on http://{host}:{port} (OpenAPI at /docs); "
          "Ctrl-C stops it", flush=True)
    uvicorn.Server(_config(app)).run(sockets=[_listen(host, port)])
