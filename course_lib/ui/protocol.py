"""TanStack Query's optimistic-update protocol, replayed in Python against the same API (notebook 08).

The React page cannot run under nbval (no browser), so the notebook drives this model instead: the same
steps as `frontend/src/hooks.ts` (cancel, snapshot, set the new value, send; on error put back the old
value; when the last edit settles, refetch), each recorded with the time it happened and what the user
would see, so the timeline can be shown and asserted. The browser tests check the real page.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Step:
    ms: float  # since the first edit of the current burst was sent
    what: str
    shown: str  # the title of the edited post as the user sees it at that moment


@dataclass
class PostsCache:
    """The client's cached list, the edits in flight, and a timeline of every step."""

    base_url: str
    optimistic: bool = True
    # False replays the seed's save, fetch(...).then(r => r.json()): an HTTP error resolves like a success,
    # so nothing rolls back and nothing is said.
    rejects_http_errors: bool = True
    data: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    refetches: int = 0

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=30)
        self._lock, self._in_flight, self._t0 = threading.Lock(), 0, time.perf_counter()

    def title(self, post_id: int) -> str:
        return next(p["title"] for p in self.data if p["id"] == post_id)

    def _set_title(self, post_id: int, title: str) -> None:
        self.data = [{**p, "title": title} if p["id"] == post_id else p for p in self.data]

    def _log(self, what: str, post_id: int) -> None:
        self.steps.append(Step(round((time.perf_counter() - self._t0) * 1000, 1), what, self.title(post_id)))

    def fetch(self) -> None:
        response = self.http.get("/api/posts", params={"limit": 100})
        response.raise_for_status()
        with self._lock:
            self.data = response.json()["data"]
            self.refetches += 1

    def rename(self, post_id: int, title: str) -> bool:
        """One edit, as useUpdatePost does it; True when the server accepted it."""
        with self._lock:
            if self._in_flight == 0:  # the timeline counts from the first edit of a burst
                self._t0 = time.perf_counter()
            self._in_flight += 1
            old = self.title(post_id)
            if self.optimistic:  # onMutate: the new title is on screen before the request leaves
                self._set_title(post_id, title)
            self._log(f"edit sent: {title!r}", post_id)
        response = self.http.put(f"/api/posts/{post_id}", json={"title": title})
        with self._lock:
            ok = response.status_code == 200
            if ok and not self.optimistic:  # pessimistic: the screen changes only now
                self._set_title(post_id, title)
            if not ok and self.rejects_http_errors:  # onError: put back this post's old title only
                self._set_title(post_id, old)
            outcome = "" if ok else ": rolled back" if self.rejects_http_errors else ": taken for success, no rollback"
            self._log(f"server answered {response.status_code}{outcome}", post_id)
            self._in_flight -= 1
            last = self._in_flight == 0
        if last:  # onSettled: refetch only when the last edit in flight has settled
            self.fetch()
            with self._lock:
                self._log("last edit settled: list refetched", post_id)
        return ok
