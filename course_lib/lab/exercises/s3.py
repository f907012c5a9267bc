"""Exercises for notebook 05: a part size S3 accepts, the completion's part list, what to send on resume."""

from __future__ import annotations

import copy
import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from course_lib import backends
from course_lib.backends import settings
from course_lib.lab.exercises import exercise
from course_lib.s3.integrity import crc32_checksum
from course_lib.s3.plan import MAX_PART, MAX_PARTS, MIN_PART, GiB, MiB, TiB
from course_lib.s3.service import ensure_bucket

PartSize = Callable[[int], int]

SIZES = [1, 4 * MiB, 5 * MiB + 1, 64 * MiB, 1000**3, 50 * GiB, 100 * 1000**3, 1 * TiB, 5 * 1000**4, 5 * TiB,
         MAX_PARTS * MAX_PART]  # up to S3's largest object


@exercise("part_size",
          concept="S3 allows at most 10,000 parts of 5 MiB to 5 GiB each: the part size must make the whole file "
                  "fit in 10,000 parts without going under the minimum",
          outline="start from 8 MiB; if size / 8 MiB needs more than 10,000 parts, use "
          "ceil(size / 10,000) rounded up to a whole MiB; never under 5 MiB")
def check_part_size(choose: PartSize) -> Iterator[tuple[str, bool]]:
    for size in SIZES:
        part = choose(size)
        count = math.ceil(size / part) if part else 0
        legal = isinstance(part, int) and MIN_PART <= part <= MAX_PART and 1 <= count <= MAX_PARTS
        yield f"{size:,} bytes -> parts of {part:,} bytes, {count:,} parts: within S3's limits", legal
        if size >= 64 * MiB:
            # not wastefully large: a retried part should not cost more than it must
            yield f"{size:,} bytes: part no bigger than needed (at most max(16 MiB, 2x the minimum))", \
                part <= max(16 * MiB, 2 * math.ceil(size / MAX_PARTS))


# Exercises 2 and 3 upload to the lesson's S3 server: two parts at S3's 5 MiB minimum and a short last one.
EXERCISE_BUCKET = "course-exercises"
PART_BYTES = [b"a" * MIN_PART, b"b" * MIN_PART, b"c" * 1024]
STALE = b"x" * MIN_PART  # what a first, wrong upload of part 2 sent (a stale buffer)


def _s3() -> tuple[Any, str]:
    client = backends.s3().new_client()
    bucket = settings.current().bucket(EXERCISE_BUCKET)
    ensure_bucket(client, bucket)
    return client, bucket


def _put(client: Any, bucket: str, key: str, upload_id: str, number: int, body: bytes, crc: bool) -> dict:
    extra = {"ChecksumAlgorithm": "CRC32"} if crc else {}
    answer = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra)
    return {"PartNumber": number, "ETag": answer["ETag"]}


@exercise("completion_parts",
          concept="CompleteMultipartUpload wants each part once, in ascending part number order, with the ETag "
                  "S3 answered for the upload of that part that counts: the last one",
          outline="keep a dict part number -> ETag, overwritten as answers arrive (a re-upload replaces the "
                  "part); return [{'PartNumber': n, 'ETag': etag}] sorted by n")
def check_completion_parts(complete: Callable[[list[dict]], list[dict]]) -> Iterator[tuple[str, bool]]:
    client, bucket = _s3()
    key = f"exercise/{uuid.uuid4().hex}"
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    # Answers in the order the PUTs finished: part 3 first, and part 2 sent twice (the retry had the right bytes).
    answers = [_put(client, bucket, key, upload_id, 3, PART_BYTES[2], crc=False),
               _put(client, bucket, key, upload_id, 1, PART_BYTES[0], crc=False),
               _put(client, bucket, key, upload_id, 2, STALE, crc=False),
               _put(client, bucket, key, upload_id, 2, PART_BYTES[1], crc=False)]
    listed = complete(copy.deepcopy(answers))
    numbers = [p.get("PartNumber") for p in listed]
    yield f"each part once, ascending (got part numbers {numbers})", numbers == [1, 2, 3]
    try:
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": listed})
    except ClientError as exc:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        yield f"S3 accepts the list (it answered {exc.response['Error']['Code']})", False
        return
    body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    client.delete_object(Bucket=bucket, Key=key)
    yield "S3 accepts the list, and the object is the three parts' right bytes (not the stale part 2)", \
        body == b"".join(PART_BYTES)


@exercise("parts_to_resume",
          concept="after a crash, ask S3 what it holds (ListParts) and send only what is missing or different; "
                  "compare checksums, not ETags (under SSE-KMS an ETag is not an MD5 of the bytes)",
          outline="listed = {p['PartNumber']: p.get('ChecksumCRC32') for p in parts}; return sorted numbers n of "
                  "local where listed.get(n) != local[n] (missing parts give None, which never matches)")
def check_parts_to_resume(resume: Callable[[dict[int, str], list[dict]], list[int]]) -> Iterator[tuple[str, bool]]:
    client, bucket = _s3()
    key = f"exercise/{uuid.uuid4().hex}"
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
    local = {n: crc32_checksum(body) for n, body in enumerate(PART_BYTES, start=1)}
    try:
        _put(client, bucket, key, upload_id, 1, PART_BYTES[0], crc=True)
        _put(client, bucket, key, upload_id, 2, STALE, crc=True)  # the crash came while part 2 was wrong
        held = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
        todo = resume(dict(local), held)
        yield f"part 1 held, part 2 holds other bytes, part 3 missing: send [2, 3] (got {todo})", todo == [2, 3]
        _put(client, bucket, key, upload_id, 2, PART_BYTES[1], crc=True)
        _put(client, bucket, key, upload_id, 3, PART_BYTES[2], crc=True)
        held = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
        todo = resume(dict(local), held)
        yield f"every part held with the right checksum: send nothing (got {todo})", todo == []
    finally:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
