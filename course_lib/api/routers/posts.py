"""/api/posts and /app: the demo list behind the React Query page (notebook 08), with knobs for failure.

Posts are public demo data (no token needed) so the page works in any browser. `PostControls` let a
notebook or a test slow the server down, empty the list, or fail the next GETs or PUTs, so every state
of the page (loading, error with retry, empty, optimistic, rolled back) can be shown on demand.
"""

import asyncio
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from course_lib.api import problems
from course_lib.api.deps import Id, ServicesDep, can
from course_lib.auth import Authenticated
from course_lib.clock import utc_now
from course_lib.ui.posts import posts

FRONTEND_DIST = Path(__file__).parents[1] / "frontend_dist"  # built by frontend/ (npm run build), committed


class TitleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Any text, shown as text by the page (markup is not interpreted); no control characters, which
    # no title needs and which break logs, terminals and CSV exports.
    title: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class ControlsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    latency_ms: int = Field(default=0, ge=0, le=10_000)
    fail_gets: int = Field(default=0, ge=0, le=100)
    fail_puts: int = Field(default=0, ge=0, le=100)
    empty: bool = False


def _row(row) -> dict:
    return {"id": row.id, "title": row.title, "body": row.body, "updated_at": row.updated_at.isoformat() + "Z"}


router = APIRouter(prefix="/api", tags=["posts"])


# The demo's latency is waited out on the event loop (asyncio.sleep), never in a worker thread: a slow
# demo must not take the thread pool's slots from every other route (a 10 s sleep in 40 threads would).
@router.get("/posts", summary="Demo posts, oldest first (keyset: ?cursor=<last id>)")
async def list_posts(svc: ServicesDep, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                     cursor: Annotated[int | None, Query(ge=0, le=2**62)] = None) -> Response:
    controls = svc.post_controls
    failing = controls.take("fail_gets")  # decided on arrival: a failure set while this request waits is the next's
    await asyncio.sleep(controls.latency_ms / 1000)
    if failing:
        return problems.problem_response(503, "Injected failure", "the demo server was told to fail this GET")
    if controls.empty:
        return problems.json_answer(200, {"data": [], "next_cursor": None})
    rows = await run_in_threadpool(_page, svc.engine, limit, cursor)
    page = rows[:limit]
    return problems.json_answer(200, {"data": [_row(r) for r in page],
                                      "next_cursor": str(page[-1].id) if len(rows) > limit else None})


def _page(engine: Engine, limit: int, cursor: int | None) -> list[Any]:
    query = sa.select(posts).order_by(posts.c.id).limit(limit + 1)
    if cursor is not None:
        query = query.where(posts.c.id > cursor)
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def _rename(engine: Engine, post_id: int, title: str) -> Any:
    with engine.begin() as conn:
        done = conn.execute(sa.update(posts).where(posts.c.id == post_id)
                            .values(title=title, updated_at=utc_now())).rowcount
        return conn.execute(sa.select(posts).where(posts.c.id == post_id)).first() if done else None


@router.put("/posts/{post_id}", summary="Rename a demo post")
async def rename_post(post_id: Id, body: TitleIn, svc: ServicesDep) -> Response:
    controls = svc.post_controls
    failing = controls.take("fail_puts")  # decided on arrival, like the GET's
    await asyncio.sleep(controls.latency_ms / 1000)
    if failing:
        return problems.problem_response(500, "Injected failure", "the demo server was told to fail this PUT")
    row = await run_in_threadpool(_rename, svc.engine, post_id, body.title)
    if row is None:
        return problems.problem_response(404, "Not found", f"there is no post {post_id}")
    return problems.json_answer(200, _row(row))


# A lesson knob, not part of the API contract: left out of /openapi.json (and so out of the fuzzing).
# It changes the server for every learner, so it needs an instructor's token (ability demo:control).
@router.put("/posts-controls", include_in_schema=False)
def set_controls(body: ControlsIn, svc: ServicesDep, _who: Annotated[Authenticated, Depends(can("demo:control"))]
                 ) -> Response:
    for key, value in body.model_dump().items():
        setattr(svc.post_controls, key, value)
    return problems.json_answer(200, svc.post_controls.snapshot())


def mount_frontend(app: FastAPI) -> None:
    """Serve the built React page at /app/ (when the bundle is there)."""
    if not FRONTEND_DIST.exists():
        return
    app.mount("/app", StaticFiles(directory=FRONTEND_DIST, html=True), name="app")

    @app.get("/app", include_in_schema=False)
    def app_root() -> RedirectResponse:
        return RedirectResponse("/app/")
