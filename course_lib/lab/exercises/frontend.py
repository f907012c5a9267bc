"""Exercises for notebook 08: TanStack Query's onMutate, onError and onSettled in the Python protocol model."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from course_lib.lab.exercises import exercise

Rollback = Callable[[list[dict], int, str], list[dict]]


@exercise("rollback_one",
          concept="two edits can be in flight at once: undo only the one that failed, and leave whatever the screen"
                  " shows for the others",
          outline="return a new list: the failed post with old_title, every other post exactly as it is "
          "now (restoring the whole snapshot would undo edits still in flight)")
def check_rollback_one(rollback: Rollback) -> Iterator[tuple[str, bool]]:
    # Two optimistic edits on screen; the one for post 1 failed, the one for post 2 is still in flight.
    cache = [{"id": 1, "title": "A (edited)"}, {"id": 2, "title": "B (edited)"}, {"id": 3, "title": "C"}]
    before = copy.deepcopy(cache)
    out = rollback(cache, 1, "A")
    titles = {p["id"]: p["title"] for p in out}
    yield "post 1 is back to its old title", titles.get(1) == "A"
    yield "post 2 keeps its optimistic title: its edit has not failed", titles.get(2) == "B (edited)"
    yield "nothing else changed", titles.get(3) == "C" and len(out) == 3
    yield "the cached list is not modified in place (React compares by reference)", cache == before


Mutate = Callable[[list[dict], int, str], tuple[list[dict], dict]]
POSTS = [{"id": 1, "title": "A"}, {"id": 2, "title": "B"}, {"id": 3, "title": "C"}]


@exercise("on_mutate",
          concept="onMutate runs before the request leaves: it puts the new title on screen at once and keeps what "
                  "onError will need to undo exactly this edit",
          outline="return (a new list with this post's title replaced, every other post as it is; "
                  "{'id': post_id, 'old_title': its title before}); never change the list you were given")
def check_on_mutate(on_mutate: Mutate) -> Iterator[tuple[str, bool]]:
    cache = copy.deepcopy(POSTS)
    shown, context = on_mutate(cache, 2, "B (edited)")
    titles = {p["id"]: p["title"] for p in shown}
    yield "the new title is on screen before the server answers", titles.get(2) == "B (edited)"
    yield "the other posts are untouched", titles.get(1) == "A" and titles.get(3) == "C" and len(shown) == 3
    yield "the cached list is not modified in place (React compares by reference)", cache == POSTS
    yield f"the context remembers the post and its old title (got {context})", \
        context.get("id") == 2 and context.get("old_title") == "B"
    from course_lib.lab.solutions.frontend import rollback_one

    undone = rollback_one(shown, context.get("id", 0), context.get("old_title", ""))
    yield "onError can undo this edit from the context alone", undone == POSTS


class _Server:
    """The posts as the server holds them: an accepted edit lands there, a failed one does not."""

    def __init__(self) -> None:
        self.posts, self.fetches = copy.deepcopy(POSTS), 0

    def accept(self, post_id: int, title: str) -> None:
        self.posts = [{**p, "title": title} if p["id"] == post_id else p for p in self.posts]

    def fetch(self) -> list[dict]:
        self.fetches += 1
        return copy.deepcopy(self.posts)


@exercise("mutation_lifecycle",
          concept="with overlapping edits each one rolls back only itself on error, and the list is refetched once, "
                  "when the last edit in flight settles: an earlier refetch would briefly show the server's state "
                  "without the edits still on their way",
          outline="count edits in flight: on_mutate adds one (and does the optimistic update, returning the "
                  "context); on_error puts back context's old title; on_settled subtracts one and, at zero, sets "
                  "self.data = self.refetch()")
def check_lifecycle(make: Callable[[list[dict], Callable[[], list[dict]]], Any]) -> Iterator[tuple[str, bool]]:
    server = _Server()
    hooks = make(server.fetch(), server.fetch)
    server.fetches = 0

    def shown() -> dict[int, str]:
        return {p["id"]: p["title"] for p in hooks.data}

    first = hooks.on_mutate(1, "A (edited)")  # will fail
    hooks.on_mutate(2, "B (edited)")  # will succeed
    yield "both edits on screen at once", shown() == {1: "A (edited)", 2: "B (edited)", 3: "C"}
    hooks.on_error(first)
    yield f"the failed edit is rolled back, the other stays (screen {shown()})", \
        shown() == {1: "A", 2: "B (edited)", 3: "C"}
    hooks.on_settled()
    yield f"the first edit settles while the second is in flight: no refetch yet (got {server.fetches})", \
        server.fetches == 0
    server.accept(2, "B (edited)")
    hooks.on_settled()
    yield f"the last edit settles: one refetch (got {server.fetches})", server.fetches == 1
    yield f"the screen is the server's list (screen {shown()})", shown() == {1: "A", 2: "B (edited)", 3: "C"}
    third = hooks.on_mutate(3, "C (edited)")
    hooks.on_error(third)
    hooks.on_settled()
    yield f"a lone failed edit: rolled back and refetched at once (fetches {server.fetches}, screen {shown()})", \
        server.fetches == 2 and shown()[3] == "C"
