"""The learner's own measurements, kept between notebooks under build/results/.

A topic notebook saves the figures its interview answer quotes (`save("idempotency", {...})`); the
interview drill (notebook 09) loads them, so the answers a learner rehearses carry their numbers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from course_lib.backends import settings


def path(name: str) -> Path:
    return settings.current().build_dir / "results" / f"{name}.json"


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write `figures` to build/results/<name>.json and return the path."""
    target = path(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(figures, indent=2, default=str))
    return target


def load(name: str) -> dict[str, Any] | None:
    """The figures a notebook saved, or None if it has not run on this machine yet."""
    target = path(name)
    return json.loads(target.read_text()) if target.exists() else None
