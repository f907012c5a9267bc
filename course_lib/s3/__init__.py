"""S3 multipart uploads with presigned part URLs (notebook 05).

The backend role (`UploadService`, behind /api/uploads) holds the credentials; the client role
(`Uploader`) holds none: it PUTs bytes to presigned URLs over plain HTTP.
"""

from __future__ import annotations

from course_lib.s3.integrity import content_md5, crc32_checksum, md5_digest, multipart_etag, part_etag
from course_lib.s3.plan import DEFAULT_PART, MIN_PART, MiB, PartPlan, PlanError, plan
from course_lib.s3.service import UploadProblem, UploadService
from course_lib.s3.uploader import UploadAborted, Uploader, UploadFailed, UploadResult, url_expired

__all__ = [
    "DEFAULT_PART", "MIN_PART", "MiB", "PartPlan", "PlanError", "UploadAborted", "UploadFailed",
    "UploadProblem", "UploadResult", "UploadService", "Uploader", "content_md5", "crc32_checksum", "md5_digest",
    "multipart_etag",
    "part_etag", "plan", "url_expired",
]
