"""The learner's own numbers, saved for the interview drill (notebook 09) and the interview answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..backends import settings


def results_path(name: str) -> Path:
    return settings.current().build_dir / "results" / f"{name}.json"


def save(name: str, figures: dict[str, Any]) -> Path:
    """Write `figures` to build/results/<name>.json and return the path."""
    path = results_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, default=str))
    return path


def interview_answer(figures: dict[str, Any]) -> str:
    """'Explain a query optimization you shipped and its impact', from measured before/after figures."""
    cases = figures["cases"]
    cover, composite = cases["covering index"], cases["composite index for WHERE + ORDER BY"]
    function = cases["function on an indexed column"]
    page = figures["pagination"]
    return (
        "  'Our order list got slow as data grew. EXPLAIN showed a full scan with a filesort for the\n"
        f"  \"orders by status, newest first\" query: {composite['before ms']} ms. A composite index (status,\n"
        f"  created_at), equality column first, made it an index range in order: {composite['after ms']} ms.\n"
        f"  A report wrapped created_at in DATE(), which defeats the index: {function['before ms']} ms; the\n"
        f"  half-open range on the bare column took {function['after ms']} ms. For a user's order history we\n"
        "  replaced SELECT * with named columns under a covering index: "
        f"{cover['before ms']} -> {cover['after ms']} ms,\n"
        "  answered from the index alone. Deep pages used OFFSET: page "
        f"{page['deepest page']} took {page['offset ms']} ms;\n"
        f"  keyset pagination on (created_at, id) takes {page['keyset ms']} ms at any depth, and the id\n"
        "  tie-breaker fixed rows that went missing or repeated between pages.'\n"
        f"(measured on {figures['orders']:,} orders, {figures['database']})")
