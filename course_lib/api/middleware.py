"""Two pure-ASGI middlewares: a request-body limit, and one structured log line per request.

Pure ASGI (not BaseHTTPMiddleware) so the body limit can stop reading at the limit instead of
after buffering an attacker's gigabyte, and so the log line's latency covers the whole response.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

from course_lib.logs import get_logger
from course_lib.messages import PROBLEM_JSON

# 1 MiB: an order of 50 items is under 5 KiB; anything near this limit is a mistake or an attack.
MAX_BODY_BYTES = 1024 * 1024
# An HTTP/1.1 client still uploading when the server answers and closes sees "connection reset",
# not the 413. Reading and discarding up to this much lets ordinary clients read the answer;
# beyond it, the server stops paying for the upload and simply closes.
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
# A client that declares a body and stops sending it would hold a connection (and a slot of the server)
# forever. The whole body must arrive within this many seconds: 1 MiB in 10 s is 100 KiB/s, far below
# any real link; a stalled request gets 408 and its connection is closed.
BODY_TIMEOUT_S = 10.0
REQUEST_ID_HEADER = "X-Request-Id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

Scope = dict[str, Any]


async def _send_problem(send: Any, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "status": status, "title": title, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Answer 413 problem+json to any body over `limit` bytes, declared or streamed, before the app sees it."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"the body is larger than {self.limit} bytes; send at most {self.limit // 1024} KiB"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > DRAIN_LIMIT_BYTES:
            return await _send_problem(send, 413, "Body too large", detail)
        try:
            body, size = await self._read(receive)
        except TimeoutError:
            return await _send_problem(send, 408, "Request timeout", f"the body did not arrive within "
                                       f"{BODY_TIMEOUT_S:.0f} s; send it again in one go")
        if body is None:  # the client went away
            return None
        if size > self.limit:
            return await _send_problem(send, 413, "Body too large", detail)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _read(self, receive: Any) -> tuple[bytes | None, int]:
        """The body (None if the client disconnected) and its size, draining at most DRAIN_LIMIT_BYTES;
        TimeoutError if it has not all arrived within BODY_TIMEOUT_S."""
        chunks, size, more = [], 0, True
        async with asyncio.timeout(BODY_TIMEOUT_S):  # one deadline for the whole body (no task per chunk)
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None, size
                chunk = message.get("body", b"")
                size += len(chunk)
                more = message.get("more_body", False)
                if size > DRAIN_LIMIT_BYTES:
                    break
                if size <= self.limit:
                    chunks.append(chunk)
        return b"".join(chunks), size


class RequestLog:
    """One JSON log line per request: request id, user, route, key hash, lock, status, latency, replay.

    Handlers add fields through `request.state.log` (a dict); nothing else is logged, so no header,
    body or token can reach a log line by accident (and logs.redact_secrets guards field names).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.log = get_logger("api.request")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        fields: dict[str, Any] = {}
        scope.setdefault("state", {})["log"] = fields
        status = {"code": 500}
        logged = False
        start = time.perf_counter()

        def write_line() -> None:
            nonlocal logged
            if logged:
                return
            logged = True
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.log.info("request", request_id=request_id, method=scope["method"], route=route,
                          user_id=fields.get("user_id"), idem_key_hash=fields.get("idem_key_hash"),
                          lock=fields.get("lock"), replay=fields.get("replay", False), status=status["code"],
                          latency_ms=round((time.perf_counter() - start) * 1000, 2))

        async def send_with_id(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((REQUEST_ID_HEADER.encode(), request_id.encode()))
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Written before the last byte leaves: a client (or a test) that has its answer can
                # rely on the line being there already.
                write_line()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            write_line()  # the app failed before answering: still one line, with status 500
