"""/problems/{slug}: a short page for each problem type the API's idempotency errors name.

The Idempotency-Key draft (section 2.7) asks that a 400 or 422 point to documentation; the problem's
`type` and its `Link: <...>; rel="describedby"` header both resolve here.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse, Response

from course_lib.api import problems
from course_lib.idempotency.problems import BY_SLUG, DOCS_PREFIX

router = APIRouter(prefix=DOCS_PREFIX.rstrip("/"), tags=["problem types"])


@router.get("/{slug}", response_class=HTMLResponse, responses=problems.documented(404),
            summary="What an error of this type means and what to do")
def problem_page(slug: Annotated[str, Path(pattern=r"^[a-z-]{1,64}$")]) -> Response:
    found = BY_SLUG.get(slug)
    if found is None:
        return problems.problem_response(404, "Not found", f"no problem type {slug!r}; the API's types are "
                                         f"{sorted(BY_SLUG)}")
    title, happened, todo = (html.escape(t) for t in (found.title, found.happened, found.todo))
    return HTMLResponse(f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>"
                        f"<body><h1>{title} ({found.status})</h1><h2>What happened</h2><p>{happened}</p>"
                        f"<h2>What to do</h2><p>{todo}</p></body></html>")
