"""The course API over real HTTP: Sanctum-style tokens and idempotent create-order (notebooks 02, 07).

    from course_lib import api
    server = api.start(fresh=True)       # uvicorn in a background thread, free loopback port
    client = api.Client(server.url)      # httpx with the course's conventions
"""

from __future__ import annotations

from course_lib.api.app import create_app
from course_lib.api.client import Client
from course_lib.api.deps import ApiConfig
from course_lib.api.routers.orders import CRASH_AFTER_CLAIM, FAULT_HEADER
from course_lib.api.server import RunningServer, reset_tables, serve, start

__all__ = ["CRASH_AFTER_CLAIM", "FAULT_HEADER", "ApiConfig", "Client", "RunningServer", "create_app",
           "reset_tables", "serve", "start"]
