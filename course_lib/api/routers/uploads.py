"""/api/uploads: the backend's side of presigned multipart uploads (notebook 05), as thin routes.

The routes authenticate, check the `uploads:write` ability and call `course_lib.s3.UploadService`,
which holds the S3 credentials. The S3 backend is resolved on the first upload request, so an API
that never sees one never starts the embedded S3 server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from course_lib.api import problems
from course_lib.api.deps import ServicesDep, can
from course_lib.auth import Authenticated
from course_lib.s3.plan import MAX_OBJECT
from course_lib.s3.service import UploadProblem

UploadId = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._~-]+$")]


class UploadIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    # Letters, digits, '.', '_', '-', with at least one that is not a dot: "." and ".." are not names.
    filename: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$")
    size: int = Field(ge=1, le=MAX_OBJECT)
    part_size: int | None = Field(default=None, ge=1, le=5 * 1024**3)


# base64 of 4 bytes: a part's CRC32 is checked to be one before it is signed into a URL or passed on to S3.
CRC32_PATTERN = r"^[A-Za-z0-9+/]{6}==$"


class PartChecksums(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    crc32: str = Field(pattern=CRC32_PATTERN, description="base64 big-endian CRC32 of the part's bytes")
    content_md5: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{22}==$",
                                    description="base64 MD5 of the part's bytes (legacy: also bound when given)")


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parts: dict[str, PartChecksums] = Field(min_length=1, max_length=1000, description="part number -> checksums")


class PartRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=80)
    # S3 wants each part's checksum at complete; without it the backend looks it up (one ListParts more).
    crc32: str | None = Field(default=None, pattern=CRC32_PATTERN, description="the CRC32 its URL was signed with")


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    parts: list[PartRef] = Field(min_length=1, max_length=10_000)


_PART_NUMBER = re.compile(r"[1-9][0-9]{0,4}")
router = APIRouter(prefix="/api/uploads", tags=["uploads"], default_response_class=Response,
                   responses=problems.documented(400, 401, 403, 404, 409, 422))
Uploader = Annotated[Authenticated, Depends(can("uploads:write"))]


def _answer(fn: Callable[[], object], status: int = 200) -> Response:
    """The service's result as JSON (204 for None), or its UploadProblem as problem+json."""
    try:
        result = fn()
    except UploadProblem as exc:
        return problems.problem_response(exc.status, exc.title, exc.detail)
    if result is None:
        return Response(status_code=204)
    return problems.json_answer(status, result)


def _part_numbers(body: SignIn) -> dict[int, tuple[str, str | None]]:
    # ASCII digits only: int() also reads " 1 " and Arabic-Indic digits as 1.
    wrong = [n for n in body.parts if not _PART_NUMBER.fullmatch(n)]
    if wrong:
        raise UploadProblem(422, "Wrong part number", f"part numbers are integers 1..10000 in ASCII digits, got "
                            f"{wrong[:3]!r}")
    return {int(n): (c.crc32, c.content_md5) for n, c in body.parts.items()}


@router.post("", status_code=201, summary="Start a multipart upload")
def create_upload(body: UploadIn, who: Uploader, svc: ServicesDep) -> Response:
    return _answer(lambda: svc.uploads().create(who.user_id, body.filename, body.size, body.part_size), 201)


@router.get("/{upload_id}", summary="An upload's key and status")
def upload_status(upload_id: UploadId, who: Uploader, svc: ServicesDep) -> Response:
    return _answer(lambda: svc.uploads().status(who.user_id, upload_id))


@router.post("/{upload_id}/sign", summary="Presigned PUT URLs bound to each part's CRC32")
def sign_parts(upload_id: UploadId, body: SignIn, who: Uploader, svc: ServicesDep) -> Response:
    return _answer(lambda: svc.uploads().sign(who.user_id, upload_id, _part_numbers(body)))


@router.get("/{upload_id}/parts", summary="The parts the server holds (to resume)")
def list_parts(upload_id: UploadId, who: Uploader, svc: ServicesDep) -> Response:
    return _answer(lambda: svc.uploads().list_parts(who.user_id, upload_id))


@router.post("/{upload_id}/complete", summary="Check the parts, then assemble them")
def complete_upload(upload_id: UploadId, body: CompleteIn, who: Uploader, svc: ServicesDep) -> Response:
    return _answer(lambda: svc.uploads().complete(who.user_id, upload_id, [p.model_dump() for p in body.parts]))


@router.get("/{upload_id}/download", summary="A presigned GET URL for the object")
def download(upload_id: UploadId, who: Uploader, svc: ServicesDep) -> Response:
    return _answer(lambda: {"url": svc.uploads().download_url(who.user_id, upload_id)})


@router.delete("/{upload_id}", status_code=204, summary="Abort: the parts are deleted")
def abort_upload(upload_id: UploadId, who: Uploader, svc: ServicesDep) -> Response:
    return _answer(lambda: svc.uploads().abort(who.user_id, upload_id))
