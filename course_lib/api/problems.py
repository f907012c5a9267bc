"""Every error as RFC 9457 problem+json: FastAPI's own (404, 405, validation) and ours.

FastAPI answers malformed JSON and schema violations with its own 422 shape; the course's API
answers 400 "Malformed JSON" for a body that does not parse and 422 "Invalid request" for one
that parses but breaks the schema, each with a detail that says which field and what to send.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from course_lib.auth import AuthError
from course_lib.logs import get_logger
from course_lib.messages import PROBLEM_JSON
from course_lib.messages import Response as PlainResponse

log = get_logger("api")


class Problem(BaseModel):
    """RFC 9457 problem details: every error the API returns."""

    type: str = "about:blank"
    status: int
    title: str
    detail: str


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses: each is problem+json."""
    return {s: {"model": Problem, "content": {PROBLEM_JSON: {}}} for s in statuses}


def problem_response(status: int, title: str, detail: str, headers: dict[str, str] | None = None,
                     **extra: Any) -> Response:
    body = {"type": "about:blank", "status": status, "title": title, "detail": detail, **extra}
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, headers=headers,
                    media_type=PROBLEM_JSON)


def json_answer(status: int, payload: Any) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status_code=status, media_type="application/json")


def plain(response: PlainResponse) -> Response:
    """A course_lib Response (status, bytes, headers) as a Starlette response, byte for byte."""
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    return Response(response.body, status_code=response.status, headers=headers,
                    media_type=response.headers.get("Content-Type", "application/json"))


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


async def _validation(_request: Request, exc: RequestValidationError) -> Response:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(400, "Malformed JSON", "the body is not valid JSON; send Content-Type: "
                                "application/json with a JSON object")
    first = errors[0]
    fields = [{"field": _where(tuple(e.get("loc", ()))), "problem": e.get("msg", "")} for e in errors[:10]]
    return problem_response(422, "Invalid request", f"{_where(tuple(first.get('loc', ())))}: {first.get('msg')}",
                            errors=fields)


async def _http(request: Request, exc: StarletteHTTPException) -> Response:
    titles = {404: "Not found", 405: "Method not allowed"}
    detail = str(exc.detail)
    if exc.status_code in titles and detail in ("Not Found", "Method Not Allowed"):  # the router's own
        detail = f"no route for {request.method} {request.url.path}; the API's routes are listed at /docs"
    return problem_response(exc.status_code, titles.get(exc.status_code, "Error"), detail,
                            headers=getattr(exc, "headers", None))


async def _auth(_request: Request, exc: AuthError) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="course"'} if exc.status == 401 else None
    return problem_response(exc.status, exc.title, exc.detail, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", route=request.url.path, error=type(exc).__name__)
    return problem_response(500, "Internal error", "the server failed; the request id in the logs says where")


def install(app: FastAPI) -> None:
    # Starlette types every handler as taking Exception; each of these gets only the class it is registered for.
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(AuthError, _auth)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
