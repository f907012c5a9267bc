"""A small httpx client for the course API, so notebook cells show the request, not the plumbing."""

from __future__ import annotations

import json
from typing import Any

import httpx

from course_lib.idempotency.keys import HEADER


class Client:
    """Plain HTTP to the course API. `login()` keeps the token for later calls."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 10.0) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)
        self.token = token

    def login(self, email: str, password: str, **options: Any) -> dict[str, Any]:
        """POST /api/tokens; keeps the returned token (shown once) for the calls that follow."""
        response = self.http.post("/api/tokens", json={"email": email, "password": password, **options})
        response.raise_for_status()
        body = response.json()
        self.token = body["token"]
        return body

    def _headers(self, token: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        token = token if token is not None else self.token
        return {**({"Authorization": f"Bearer {token}"} if token else {}), **(extra or {})}

    def create_order(self, order: dict[str, Any] | bytes, key: str | None, token: str | None = None,
                     headers: dict[str, str] | None = None) -> httpx.Response:
        """POST /api/orders with `key` as the Idempotency-Key (None: send no key)."""
        body = order if isinstance(order, bytes) else json.dumps(order).encode()
        extra = {"Content-Type": "application/json", **({HEADER: key} if key is not None else {}), **(headers or {})}
        return self.http.post("/api/orders", content=body, headers=self._headers(token, extra))

    def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params or None, headers=self._headers(token, None))

    def delete(self, path: str, token: str | None = None) -> httpx.Response:
        return self.http.delete(path, headers=self._headers(token, None))

    def close(self) -> None:
        self.http.close()
