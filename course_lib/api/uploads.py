"""/api/uploads: the backend's side of presigned multipart uploads (notebook 05), as thin routes.

The routes authenticate, check the `uploads:write` ability and call `course_lib.s3.UploadService`,
which holds the S3 credentials. The S3 backend is resolved on the first upload request, so an API
that never sees one never starts the embedded S3 server.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..auth import Authenticated
from ..orders.models import Problem
from ..s3.service import UploadProblem, UploadService
from . import problems

UploadId = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._~-]+$")]


class UploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    filename: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")
    size: int = Field(ge=1, le=5 * 1024**4)
    part_size: int | None = Field(default=None, ge=1, le=5 * 1024**3)


class PartChecksums(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    content_md5: str = Field(min_length=1, max_length=64, description="base64 MD5 of the part's bytes")
    crc32: str = Field(min_length=1, max_length=16, description="base64 big-endian CRC32 of the part's bytes")


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parts: dict[str, PartChecksums] = Field(min_length=1, max_length=1000, description="part number -> checksums")


class PartRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=80)


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parts: list[PartRef] = Field(min_length=1, max_length=10_000)


def install(app: FastAPI, service: Callable[[], UploadService], can: Callable) -> None:
    Uploader = Annotated[Authenticated, Depends(can("uploads:write"))]
    errors = {s: {"model": Problem, "content": {"application/problem+json": {}}}
              for s in (400, 401, 403, 404, 409, 422)}

    def run(fn: Callable[[], object], status: int = 200) -> Response:
        try:
            result = fn()
        except UploadProblem as exc:
            return problems.problem_response(exc.status, exc.title, exc.detail)
        if result is None:
            return Response(status_code=204)
        return problems.json_answer(status, result)

    @app.post("/api/uploads", status_code=201, responses=errors, summary="Start a multipart upload")
    def create_upload(body: UploadIn, who: Uploader) -> Response:
        return run(lambda: service().create(who.user_id, body.filename, body.size, body.part_size), 201)

    @app.get("/api/uploads/{upload_id}", responses=errors, summary="An upload's key and status")
    def upload_status(upload_id: UploadId, who: Uploader) -> Response:
        return run(lambda: service().status(who.user_id, upload_id))

    @app.post("/api/uploads/{upload_id}/sign", responses=errors, summary="Presigned PUT URLs bound to each part's MD5")
    def sign_parts(upload_id: UploadId, body: SignIn, who: Uploader) -> Response:
        def sign() -> list:
            try:
                parts = {int(n): (c.content_md5, c.crc32) for n, c in body.parts.items()}
            except ValueError:
                raise UploadProblem(422, "Wrong part number", "part numbers are integers 1..10000") from None
            return service().sign(who.user_id, upload_id, parts)
        return run(sign)

    @app.get("/api/uploads/{upload_id}/parts", responses=errors, summary="The parts the server holds (to resume)")
    def list_parts(upload_id: UploadId, who: Uploader) -> Response:
        return run(lambda: service().list_parts(who.user_id, upload_id))

    @app.post("/api/uploads/{upload_id}/complete", responses=errors, summary="Check the parts, then assemble them")
    def complete_upload(upload_id: UploadId, body: CompleteIn, who: Uploader) -> Response:
        return run(lambda: service().complete(who.user_id, upload_id, [p.model_dump() for p in body.parts]))

    @app.get("/api/uploads/{upload_id}/download", responses=errors, summary="A presigned GET URL for the object")
    def download(upload_id: UploadId, who: Uploader) -> Response:
        return run(lambda: {"url": service().download_url(who.user_id, upload_id)})

    @app.delete("/api/uploads/{upload_id}", status_code=204, responses=errors, summary="Abort: the parts are deleted")
    def abort_upload(upload_id: UploadId, who: Uploader) -> Response:
        return run(lambda: service().abort(who.user_id, upload_id))
