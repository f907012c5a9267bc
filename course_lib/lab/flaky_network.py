"""A fault-injecting httpx transport: fail a share of part PUTs the way networks and servers do.

Installed under the uploader's S3 client only, so the course API calls stay clean. Each injected
fault is one of: a 500 or a 503 answered without reaching the server, a read timeout, or, with
`corrupt_share`, a body with one flipped byte that *does* reach the server (what a bad NIC or a
buggy proxy does); the uploader must notice the last one from the ETag the server answers.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import httpx

KINDS = ("500", "503", "timeout")


class FaultyTransport(httpx.BaseTransport):
    def __init__(self, share: float = 0.2, corrupt_share: float = 0.0, seed: int = 0,
                 inner: httpx.BaseTransport | None = None) -> None:
        """Each PUT draws one number from a seeded generator, in the order PUTs are sent. Which part
        draws which number depends on thread timing, but how many faults an upload meets does not:
        it is the number of failing draws before the last part's success."""
        if not 0 <= share + corrupt_share < 1:
            raise ValueError("share + corrupt_share must be in [0, 1): some requests have to get through")
        self.share, self.corrupt_share = share, corrupt_share
        self.inner = inner or httpx.HTTPTransport()
        self._rng, self._lock = random.Random(seed), threading.Lock()
        self.injected: Counter = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "PUT":
            return self.inner.handle_request(request)
        with self._lock:
            roll, kind = self._rng.random(), self._rng.choice(KINDS)
        if roll < self.share:
            self.injected[kind] += 1
            if kind == "timeout":
                raise httpx.ReadTimeout("injected: the server did not answer in time", request=request)
            return httpx.Response(int(kind), text=f"injected {kind}", request=request)
        if roll < self.share + self.corrupt_share:
            self.injected["corrupted"] += 1
            body = bytearray(request.read())
            body[len(body) // 2] ^= 0xFF
            request = httpx.Request(request.method, request.url, headers=request.headers, content=bytes(body))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
