"""Reference solution for notebook 01's exercise: the store's own decision function."""

from __future__ import annotations

from course_lib.idempotency.store import decide_claim

__all__ = ["decide_claim"]
