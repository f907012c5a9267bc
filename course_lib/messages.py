"""Requests and responses as plain values, so one handler serves a notebook cell, a test and HTTP.

Errors follow RFC 9457 (problem+json): a status, a short title, and a detail that says what was
wrong and what to do about it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"
REPLAY_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Request:
    """An HTTP request reduced to what idempotency needs. `user` is the authenticated caller."""

    user: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def replayed(self) -> bool:
        return self.headers.get(REPLAY_HEADER) == "true"


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None,
            type_uri: str = "about:blank") -> Response:
    """A problem+json response (RFC 9457); `type_uri` names the problem (a page that explains it)."""
    body = json.dumps({"type": type_uri, "status": status, "title": title, "detail": detail},
                      separators=(",", ":")).encode()
    return Response(status, body, {"Content-Type": PROBLEM_JSON, **(headers or {})})
