"""The backend's half of a presigned multipart upload: it holds the credentials, the client never does.

    create   -> S3 CreateMultipartUpload; the plan (part size, count) recorded for this user
    sign     -> presigned PUT URLs for some part numbers, each bound to that part's CRC32 (and Content-MD5
                when the client asks for the legacy path)
    parts    -> S3 ListParts (what a resuming client still has to send)
    complete -> checks the client's part list against the plan and S3's ListParts, then
                CompleteMultipartUpload; answers the object's composite CRC32 for the client to check
    abort    -> AbortMultipartUpload (and the lifecycle rule cleans up what nobody aborts)

Checks made here because the embedded server (moto) does not make them: part numbers within the
plan; every part present, in ascending order, with the ETag S3 reported for it; every part but the
last exactly the planned size (so never under 5 MiB); another user's upload id is "not found".
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from botocore.exceptions import ClientError
from sqlalchemy.engine import Engine

from course_lib.backends import settings
from course_lib.clock import utc_now
from course_lib.s3.plan import PlanError, plan
from course_lib.s3.schema import uploads

# 15 minutes: long enough for a part on a slow connection, short enough that a leaked URL soon dies.
DEFAULT_URL_EXPIRY_S = 900
# SigV4 presigned URLs live at most 7 days (X-Amz-Expires <= 604800); S3 refuses anything longer.
SIGV4_MAX_EXPIRY_S = 7 * 24 * 3600
DEFAULT_BUCKET = "course-uploads"
LIFECYCLE_RULE_ID = "abort-incomplete-multipart-uploads"
# Incomplete uploads keep their parts (and their storage bill) until aborted: this rule aborts them.
ABORT_INCOMPLETE_AFTER_DAYS = 1
MAX_PARTS_PER_SIGN = 1000


class UploadProblem(Exception):
    """A request the backend refuses: `status` for the HTTP answer, `detail` says what to do."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail


class UploadService:
    """Multipart uploads into `bucket` on behalf of authenticated users."""

    def __init__(self, engine: Engine, s3_client: Any, bucket: str | None = None,
                 url_expiry_s: int = DEFAULT_URL_EXPIRY_S) -> None:
        """`bucket`: by default `course-uploads`, or a learner's own (`course-uploads-<learner>`)."""
        if not 1 <= url_expiry_s <= SIGV4_MAX_EXPIRY_S:
            raise ValueError(f"url_expiry_s must be 1..{SIGV4_MAX_EXPIRY_S} (SigV4's 7 days), got {url_expiry_s}")
        self.engine, self.s3, self.url_expiry_s = engine, s3_client, url_expiry_s
        self.bucket = bucket or settings.current().bucket(DEFAULT_BUCKET)
        self._ensure_bucket()

    @classmethod
    def on(cls, engine: Engine, backend: Any, **options: Any) -> UploadService:
        """A service on an S3Backend. Its client signs with SigV4, the only signature AWS accepts in regions
        opened since 2014 and for new buckets; its presigned URLs list the headers they bind (Content-MD5,
        x-amz-checksum-crc32), and expire within 7 days."""
        return cls(engine, backend.new_client(signature_version="s3v4"), **options)

    def _ensure_bucket(self) -> None:
        ensure_bucket(self.s3, self.bucket)
        ours = {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": ""},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_AFTER_DAYS}}
        try:
            # PutBucketLifecycleConfiguration *replaces* the bucket's rules: keep everyone else's.
            others = [r for r in self._lifecycle_rules() if r.get("ID") != LIFECYCLE_RULE_ID]
            self.s3.put_bucket_lifecycle_configuration(Bucket=self.bucket,
                                                       LifecycleConfiguration={"Rules": [*others, ours]})
            self.lifecycle_rule = True
        except ClientError:  # a server without lifecycle support: say so, do not fail
            self.lifecycle_rule = False

    def _lifecycle_rules(self) -> list[dict[str, Any]]:
        try:
            return list(self.s3.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", []))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
                return []
            raise

    # -- records ---------------------------------------------------------------------------------

    def _record(self, user_id: int, upload_id: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(uploads).where(uploads.c.upload_id == upload_id,
                                                        uploads.c.user_id == user_id)).first()
        if row is None:  # another user's upload looks exactly like one that does not exist
            raise UploadProblem(404, "Upload not found", f"you have no upload {upload_id!r}; start one with "
                                "POST /api/uploads")
        return row

    def _open(self, user_id: int, upload_id: str) -> Any:
        row = self._record(user_id, upload_id)
        if row.status != "open":
            raise UploadProblem(409, f"Upload {row.status}", f"upload {upload_id!r} is {row.status}; "
                                "start a new upload to send the file again")
        return row

    # -- the five operations ---------------------------------------------------------------------

    def create(self, user_id: int, filename: str, size: int, part_size: int | None = None) -> dict[str, Any]:
        try:
            parts = plan(size, part_size)
        except PlanError as exc:
            raise UploadProblem(422, "Invalid upload plan", str(exc)) from None
        key = f"users/{user_id}/{uuid.uuid4().hex}/{filename}"
        # CRC32 per part (signed into each URL like Content-MD5): S3 verifies each part and composes the
        # object's checksum from the parts' at complete, as boto3's TransferManager does by default.
        upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(uploads).values(user_id=user_id, upload_id=upload_id, object_key=key, size=size,
                                                   part_size=parts.part_size, status="open", created_at=utc_now()))
        return {"upload_id": upload_id, "key": key, "size": size, "part_size": parts.part_size,
                "part_count": parts.count}

    def sign(self, user_id: int, upload_id: str, parts: dict[int, tuple[str, str | None]]) -> list[dict[str, Any]]:
        """Presigned PUT URLs for {part number: (base64 CRC32, base64 Content-MD5 or None)}; each URL accepts
        only a body with those checksums."""
        row = self._open(user_id, upload_id)
        count = plan(row.size, row.part_size).count
        wrong = sorted(n for n in parts if not 1 <= n <= count)
        if wrong:
            raise UploadProblem(422, "Wrong part number", f"parts {wrong[:5]} are outside this upload's 1..{count}")
        if len(parts) > MAX_PARTS_PER_SIGN:
            raise UploadProblem(422, "Too many parts", f"sign at most {MAX_PARTS_PER_SIGN} parts per request")
        expires_at = utc_now() + timedelta(seconds=self.url_expiry_s)
        return [{"number": n, "url": self.s3.generate_presigned_url(
                    "upload_part", ExpiresIn=self.url_expiry_s,
                    Params={"Bucket": self.bucket, "Key": row.object_key, "UploadId": upload_id, "PartNumber": n,
                            "ChecksumCRC32": crc, **({"ContentMD5": md5} if md5 else {})}),
                 "headers": {"x-amz-checksum-crc32": crc, **({"Content-MD5": md5} if md5 else {})},
                 "expires_at": _iso(expires_at)}
                for n, (crc, md5) in sorted(parts.items())]

    def list_parts(self, user_id: int, upload_id: str) -> list[dict[str, Any]]:
        row = self._record(user_id, upload_id)
        if row.status != "open":
            return []
        found, marker = [], 0
        while True:
            page = self.s3.list_parts(Bucket=self.bucket, Key=row.object_key, UploadId=upload_id,
                                      PartNumberMarker=marker)
            found += [{"number": p["PartNumber"], "etag": p["ETag"], "size": p["Size"],
                       "crc32": p.get("ChecksumCRC32")} for p in page.get("Parts", [])]
            if not page.get("IsTruncated"):
                return found
            marker = page["NextPartNumberMarker"]

    def complete(self, user_id: int, upload_id: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
        row = self._open(user_id, upload_id)
        stored = {p["number"]: p for p in self.list_parts(user_id, upload_id)}
        self._check_parts(row, parts, stored)
        listed = [{"PartNumber": p["number"], "ETag": p["etag"],
                   **({"ChecksumCRC32": stored[p["number"]]["crc32"]} if stored[p["number"]]["crc32"] else {})}
                  for p in parts]
        done = self.s3.complete_multipart_upload(Bucket=self.bucket, Key=row.object_key, UploadId=upload_id,
                                                 MultipartUpload={"Parts": listed})
        with self.engine.begin() as conn:
            conn.execute(sa.update(uploads).where(uploads.c.id == row.id).values(status="completed",
                                                                                 etag=done["ETag"]))
        return {"key": row.object_key, "etag": done["ETag"], "size": row.size,
                "checksum_crc32": done.get("ChecksumCRC32") or self._object_checksum(row.object_key)}

    def _object_checksum(self, key: str) -> str | None:
        """The object's composite CRC32 from HeadObject, for servers whose complete answer omits it."""
        head = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        return head.get("ChecksumCRC32")

    def _check_parts(self, row: Any, parts: list[dict[str, Any]], stored: dict[int, dict[str, Any]]) -> None:
        expected = plan(row.size, row.part_size).parts()
        numbers = [int(p["number"]) for p in parts]
        if numbers != sorted(set(numbers)):
            raise UploadProblem(422, "Parts out of order", "list each part once, in ascending part number order")
        missing = [p.number for p in expected if p.number not in numbers]
        extra = [n for n in numbers if not 1 <= n <= len(expected)]
        if missing or extra:
            raise UploadProblem(422, "Parts missing" if missing else "Wrong part number",
                                f"missing {missing[:10]}, unknown {extra[:10]}: this upload has parts "
                                f"1..{len(expected)}; resume by sending the missing ones")
        for part, planned in zip(parts, expected, strict=True):
            have = stored.get(planned.number)
            if have is None:
                raise UploadProblem(422, "Part not uploaded", f"part {planned.number} is not on the server; send it")
            if have["size"] != planned.length:
                raise UploadProblem(422, "Part has the wrong size",
                                    f"part {planned.number} is {have['size']} bytes, the plan says {planned.length}: "
                                    "every part but the last must be exactly the part size (at least 5 MiB)")
            if part.get("etag") != have["etag"]:
                raise UploadProblem(422, "ETag mismatch", f"part {planned.number}: you sent ETag {part.get('etag')!r}, "
                                    f"the server stored {have['etag']}; re-upload that part")

    def abort(self, user_id: int, upload_id: str) -> None:
        row = self._open(user_id, upload_id)
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=row.object_key, UploadId=upload_id)
        except ClientError as exc:  # the lifecycle rule (or another abort) got there first: it is gone all the same
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise
        with self.engine.begin() as conn:
            conn.execute(sa.update(uploads).where(uploads.c.id == row.id).values(status="aborted"))

    def status(self, user_id: int, upload_id: str) -> dict[str, Any]:
        row = self._record(user_id, upload_id)
        return {"upload_id": upload_id, "key": row.object_key, "size": row.size, "part_size": row.part_size,
                "status": row.status, "etag": row.etag}

    def download_url(self, user_id: int, upload_id: str) -> str:
        row = self._record(user_id, upload_id)
        if row.status != "completed":
            raise UploadProblem(409, "Upload not completed", f"upload {upload_id!r} is {row.status}; complete it first")
        return self.s3.generate_presigned_url("get_object", ExpiresIn=self.url_expiry_s,
                                              Params={"Bucket": self.bucket, "Key": row.object_key})


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create `bucket` unless it exists already."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"

