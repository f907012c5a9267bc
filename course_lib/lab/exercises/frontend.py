"""Exercise for notebook 08: rolling back one failed edit without undoing the others."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator

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
