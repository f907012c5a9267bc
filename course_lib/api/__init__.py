"""The course API over real HTTP: Sanctum-style tokens and idempotent create-order (notebooks 02, 07).

    from course_lib import api
    server = api.start(fresh=True)       # uvicorn in a background thread, free loopback port
    client = api.Client(server.url)      # httpx with the course's conventions
"""

from __future__ import annotations

from .app import CRASH_AFTER_ORDER_INSERT, FAULT_HEADER, ApiConfig, create_app
from .client import Client
from .server import RunningServer, serve, start

__all__ = ["CRASH_AFTER_ORDER_INSERT", "FAULT_HEADER", "ApiConfig", "Client", "RunningServer", "create_app",
           "serve", "start"]
