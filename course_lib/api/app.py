"""The course API: Sanctum-style tokens, idempotent create-order, uploads and demo posts (FastAPI).

    app = create_app(engine, redis_client)          # or api.start() for a running server

`create_app` builds the services once (`deps.Services`, kept on `app.state`), includes one router
per resource (`routers/`), and wraps them in the problem+json handlers and the two middlewares.
Routes are thin: each authenticates, checks an ability, and calls the same `TokenService`,
`OrderService` and `UploadService` that notebooks call in-process, so a lesson can show a mechanism
directly first and over HTTP second. Blocking handlers are plain `def`: FastAPI runs them in its
thread pool, where the blocking SQL and Redis calls belong.
"""

from __future__ import annotations

import functools

import redis
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from course_lib import backends
from course_lib.api import problems
from course_lib.api.deps import ApiConfig, Services
from course_lib.api.middleware import BodyLimit, RequestLog
from course_lib.api.routers import me, orders, posts, problem_docs, tokens, uploads
from course_lib.auth import TokenService
from course_lib.orders import OrderService
from course_lib.s3.service import UploadService
from course_lib.ui.posts import PostControls


def create_app(engine: Engine, redis_client: redis.Redis, config: ApiConfig | None = None,
               upload_service: UploadService | None = None, post_controls: PostControls | None = None) -> FastAPI:
    """The course API on `engine` and `redis_client`. Uploads use `upload_service`, or one on this
    process's S3 backend, created on the first upload request (no S3 server starts before that)."""
    config = config or ApiConfig()
    app = FastAPI(title="Backend Reliability Lab API", version="1.0",
                  description="Sanctum-style tokens, idempotent create-order and presigned multipart uploads "
                              "(notebooks 02, 05 and 07).")
    app.state.services = Services(
        engine=engine, config=config, tokens=TokenService(engine),
        orders=OrderService(engine, redis_client, claim_lease=config.claim_lease, lock_lease_ms=config.lock_lease_ms,
                            redis_lock=config.redis_lock),
        uploads=functools.cache(lambda: upload_service or UploadService.on(engine, backends.s3())),
        post_controls=post_controls or PostControls())
    problems.install(app)
    for router in (tokens.router, me.router, orders.router, uploads.router, posts.router, problem_docs.router):
        app.include_router(router)
    posts.mount_frontend(app)
    app.add_middleware(RequestLog)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)  # outermost: runs first
    return app
