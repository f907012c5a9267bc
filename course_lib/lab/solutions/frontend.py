"""Reference solutions for notebook 08: put back one title, the optimistic update, the three callbacks."""

from __future__ import annotations

from collections.abc import Callable


def rollback_one(data: list[dict], post_id: int, old_title: str) -> list[dict]:
    return [{**p, "title": old_title} if p["id"] == post_id else p for p in data]


def on_mutate(data: list[dict], post_id: int, title: str) -> tuple[list[dict], dict]:
    old = next(p["title"] for p in data if p["id"] == post_id)
    return rollback_one(data, post_id, title), {"id": post_id, "old_title": old}


class OptimisticEdits:
    """useUpdatePost's three callbacks around a cached list; `refetch` is the list query's fetch."""

    def __init__(self, data: list[dict], refetch: Callable[[], list[dict]]) -> None:
        self.data, self.refetch, self.in_flight = data, refetch, 0

    def on_mutate(self, post_id: int, title: str) -> dict:
        self.in_flight += 1
        self.data, context = on_mutate(self.data, post_id, title)
        return context

    def on_error(self, context: dict) -> None:
        self.data = rollback_one(self.data, context["id"], context["old_title"])  # this edit only

    def on_settled(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:  # the last edit in flight: now the server's list has every edit
            self.data = self.refetch()


mutation_lifecycle = OptimisticEdits
