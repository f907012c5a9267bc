"""The backend's half of a presigned multipart upload: it holds the credentials, the client never does.

    create   -> S3 CreateMultipartUpload; the plan (part size, count) recorded for this user
    sign     -> presigned PUT URLs for some part numbers, each bound to that part's planned length and
                CRC32 (and Content-MD5 when the client asks for the legacy path)
    parts    -> S3 ListParts (what a resuming client still has to send)
    complete -> checks the client's part list against the plan, then CompleteMultipartUpload with each
                part's CRC32 and the planned object size; answers the object's composite CRC32
    abort    -> AbortMultipartUpload (and the lifecycle rule cleans up what nobody aborts)

Who checks what at complete. Here, from the plan alone: every part listed once, in ascending order,
within 1..N (moto accepts parts out of order). S3, in the same CompleteMultipartUpload call: each part
is on the server with that ETag and CRC32 (400 InvalidPart), none but the last under 5 MiB (400
EntityTooSmall), and they add up to the size the upload was started for (x-amz-mp-object-size, 400
InvalidRequest). Each part's Content-Length is also signed into its URL, so S3 refuses a part of
another length when it is PUT (403). Asking ListParts first would check the same things one S3 round
trip earlier; it is needed only for a client that does not send its parts' CRC32s.
Another user's upload id is "not found".
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
        expires_at, lengths = utc_now() + timedelta(seconds=self.url_expiry_s), plan(row.size, row.part_size).lengths()
        # ContentLength is signed too (X-Amz-SignedHeaders: content-length): S3 refuses a body of another length.
        return [{"number": n, "url": self.s3.generate_presigned_url(
                    "upload_part", ExpiresIn=self.url_expiry_s,
                    Params={"Bucket": self.bucket, "Key": row.object_key, "UploadId": upload_id, "PartNumber": n,
                            "ContentLength": lengths[n], "ChecksumCRC32": crc, **({"ContentMD5": md5} if md5 else {})}),
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
        """Assemble the parts: `parts` is [{"number", "etag", "crc32"}], the CRC32 optional (looked up with
        ListParts when missing). What S3 refuses is answered as a 422 saying what to send again."""
        row = self._open(user_id, upload_id)
        _check_list(plan(row.size, row.part_size).count, [int(p["number"]) for p in parts])
        crcs = {p["number"]: p.get("crc32") for p in parts}
        if not all(crcs.values()):  # S3 wants every part's checksum in the list of an upload created with one
            stored = {p["number"]: p["crc32"] for p in self.list_parts(user_id, upload_id)}
            crcs = {n: crc or stored.get(n) for n, crc in crcs.items()}
        listed = [{"PartNumber": p["number"], "ETag": p["etag"],
                   **({"ChecksumCRC32": crcs[p["number"]]} if crcs[p["number"]] else {})} for p in parts]
        try:
            done = self.s3.complete_multipart_upload(Bucket=self.bucket, Key=row.object_key, UploadId=upload_id,
                                                     MultipartUpload={"Parts": listed}, MpuObjectSize=row.size)
        except ClientError as exc:
            raise _refused_parts(exc, row) from None
        with self.engine.begin() as conn:
            conn.execute(sa.update(uploads).where(uploads.c.id == row.id).values(status="completed",
                                                                                 etag=done["ETag"]))
        return {"key": row.object_key, "etag": done["ETag"], "size": row.size,
                "checksum_crc32": done.get("ChecksumCRC32") or self._object_checksum(row.object_key)}

    def _object_checksum(self, key: str) -> str | None:
        """The object's composite CRC32 from HeadObject, for servers whose complete answer omits it."""
        head = self.s3.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        return head.get("ChecksumCRC32")

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


def _check_list(count: int, numbers: list[int]) -> None:
    """The part list against the plan: each of 1..count once, ascending (S3: InvalidPartOrder; moto accepts it)."""
    if numbers != sorted(set(numbers)):
        raise UploadProblem(422, "Parts out of order", "list each part once, in ascending part number order")
    missing = [n for n in range(1, count + 1) if n not in set(numbers)]
    extra = [n for n in numbers if not 1 <= n <= count]
    if missing or extra:
        raise UploadProblem(422, "Parts missing" if missing else "Wrong part number",
                            f"missing {missing[:10]}, unknown {extra[:10]}: this upload has parts 1..{count}; "
                            "resume by sending the missing ones")


# S3's refusals of a part list, as (title, what to do); anything else is the server's fault, not the client's.
_REFUSALS = {
    "InvalidPart": ("Invalid part", "a listed part is not on the server, or not with that ETag and CRC32: send it "
                                    "again (resume sends what is missing), then complete with the answers S3 gave"),
    "EntityTooSmall": ("Part too small", "every part but the last must be at least 5 MiB, the part size of this "
                                         "upload"),
    "InvalidRequest": ("Parts do not add up", "the parts must add up to the size the upload was started for, "
                                              "every part but the last exactly the part size"),
}


def _refused_parts(exc: ClientError, row: Any) -> Exception:
    error = exc.response.get("Error", {})
    if error.get("Code") not in _REFUSALS:
        return exc
    title, advice = _REFUSALS[error["Code"]]
    return UploadProblem(422, title, f"S3 refused the part list ({error['Code']}: {error.get('Message')}); {advice} "
                                     f"({row.size} bytes in parts of {row.part_size})")


def ensure_bucket(client: Any, bucket: str) -> None:
    """Create `bucket` unless it exists already."""
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError:
        client.create_bucket(Bucket=bucket)


def _iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"

