"""The query-optimisation interview answer, built from the learner's own before/after figures."""

from __future__ import annotations

from typing import Any


def interview_answer(figures: dict[str, Any]) -> str:
    """'Explain a query optimization you shipped and its impact', from measured before/after figures."""
    cases = figures["cases"]
    cover, composite = cases["covering index"], cases["composite index for WHERE + ORDER BY"]
    function = cases["function on an indexed column"]
    page = figures["pagination"]
    return (
        "  'In a lab I built on a seeded shop, the order list got slow as data grew. EXPLAIN showed a full scan\n"
        "  with a filesort for the\n"
        f"  \"orders by status, newest first\" query: {composite['before ms']} ms. A composite index (status,\n"
        f"  created_at), equality column first, made it an index range in order: {composite['after ms']} ms.\n"
        f"  A report wrapped created_at in a function, which defeats the index: {function['before ms']} ms; the\n"
        f"  half-open range on the bare column took {function['after ms']} ms. For a user's order history we\n"
        "  replaced SELECT * with named columns under a covering index: "
        f"{cover['before ms']} -> {cover['after ms']} ms,\n"
        "  answered from the index alone. Deep pages used OFFSET: page "
        f"{page['deepest page']} took {page['offset ms']} ms;\n"
        f"  keyset pagination on (created_at, id) takes {page['keyset ms']} ms at any depth, and the id\n"
        "  tie-breaker fixed rows that went missing or repeated between pages.'\n"
        f"(measured on {figures['orders']:,} orders, {figures['database']})")
