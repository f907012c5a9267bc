"""Integrity of multipart uploads, written from AWS's S3 User Guide, "Checking object integrity":

- a PUT whose body does not match the checksum header it was sent with is refused (400 BadDigest);
- ListParts reports each part's checksum; CompleteMultipartUpload reports the object's composite
  checksum, the checksum of the concatenated binary part checksums followed by "-" and the part count;
- CompleteMultipartUpload on an upload created with a checksum algorithm wants each part's checksum in
  the list (400 InvalidRequest when one is missing: the message below is S3's); with
  x-amz-mp-object-size, parts that add up to it (400 InvalidRequest; API reference, MpuObjectSize);
- a presigned URL is checked against its signature (SigV4 query authentication): a signed header sent
  with another value gets 403 SignatureDoesNotMatch, a URL past X-Amz-Date + X-Amz-Expires 403 AccessDenied;
- an object's ETag is an MD5 digest of its data only without SSE-KMS/SSE-C encryption ("Objects
  encrypted by SSE-C or SSE-KMS have ETags that are not an MD5 digest of their object data").

On the embedded server those checks are made by `course_lib.backends.s3_fidelity`, in front of moto.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

from course_lib import backends
from course_lib.backends import sigv4
from course_lib.lab.flaky_network import FaultyTransport
from course_lib.s3 import MiB, Uploader, UploadFailed
from course_lib.s3.integrity import Checksums, object_checksum
from course_lib.s3.uploader import PART_ATTEMPTS, UploadResult

from .test_s3 import blob, world  # noqa: F401  # the API and a token, shared with the S3 tests


def _crc(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.fixture
def raw_upload():
    """A multipart upload created with ChecksumAlgorithm=CRC32 on this process's S3 backend."""
    client = backends.s3().new_client(signature_version="s3v4")
    bucket = "course-integrity-tests"
    try:
        client.head_bucket(Bucket=bucket)
    except Exception:
        client.create_bucket(Bucket=bucket)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    return client, bucket, upload_id


def _part_url(client, bucket: str, upload_id: str, n: int, crc: str) -> str:
    return client.generate_presigned_url("upload_part", Params={
        "Bucket": bucket, "Key": "k", "UploadId": upload_id, "PartNumber": n, "ChecksumCRC32": crc})


def test_a_body_that_does_not_match_its_crc32_is_refused_with_bad_digest(raw_upload):
    client, bucket, upload_id = raw_upload
    data = blob(5 * MiB)
    url = _part_url(client, bucket, upload_id, 1, _crc(data))
    damaged = bytes([data[0] ^ 1]) + data[1:]
    refused = httpx.put(url, content=damaged, headers={"x-amz-checksum-crc32": _crc(data)})
    assert refused.status_code == 400 and "<Code>BadDigest</Code>" in refused.text
    stored = httpx.put(url, content=data, headers={"x-amz-checksum-crc32": _crc(data)})
    assert stored.status_code == 200 and stored.headers["x-amz-checksum-crc32"] == _crc(data)
    client.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_a_presigned_url_holds_only_for_the_headers_it_signed_and_only_until_it_expires(raw_upload):
    client, bucket, upload_id = raw_upload
    data = blob(5 * MiB, seed=15)
    url = _part_url(client, bucket, upload_id, 1, _crc(data))
    other = httpx.put(url, content=data, headers={"x-amz-checksum-crc32": _crc(b"other bytes")})
    assert other.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in other.text
    query = urlsplit(url)
    environ = {"REQUEST_METHOD": "PUT", "QUERY_STRING": query.query, "RAW_URI": f"{query.path}?{query.query}",
               "HTTP_HOST": query.netloc, "HTTP_X_AMZ_CHECKSUM_CRC32": _crc(data)}
    creds = backends.s3().credentials
    secrets = {creds["aws_access_key_id"]: creds["aws_secret_access_key"]}
    signed_at = datetime.strptime(parse_qs(query.query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    lifetime = int(parse_qs(query.query)["X-Amz-Expires"][0])
    assert sigv4.refusal(environ, secrets, now=signed_at) is None, "the signature botocore made holds"
    assert sigv4.refusal(environ, secrets, now=signed_at + timedelta(seconds=lifetime + 1))[0] == "AccessDenied"
    assert sigv4.refusal(environ, {"someone-else": "x"}, now=signed_at) is None, "keys it was not given: unchecked"
    stored = httpx.put(url, content=data, headers={"x-amz-checksum-crc32": _crc(data)})
    assert stored.status_code == 200
    client.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_a_body_that_does_not_match_its_content_md5_is_refused_too(raw_upload):
    client, bucket, upload_id = raw_upload
    data = blob(5 * MiB, seed=2)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    url = client.generate_presigned_url("upload_part", Params={
        "Bucket": bucket, "Key": "k", "UploadId": upload_id, "PartNumber": 1, "ContentMD5": md5})
    refused = httpx.put(url, content=data[:-1] + b"\0", headers={"Content-MD5": md5})
    assert refused.status_code == 400 and "<Code>BadDigest</Code>" in refused.text
    client.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


def test_list_parts_reports_each_parts_crc32_and_complete_the_composite_checksum(raw_upload):
    client, bucket, upload_id = raw_upload
    parts = [blob(5 * MiB, seed=3), blob(5 * MiB, seed=4), blob(1 * MiB, seed=5)]
    etags = []
    for n, data in enumerate(parts, start=1):
        answer = httpx.put(_part_url(client, bucket, upload_id, n, _crc(data)), content=data,
                           headers={"x-amz-checksum-crc32": _crc(data)})
        etags.append(answer.headers["etag"])
    listed = client.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["ChecksumCRC32"] for p in listed] == [_crc(d) for d in parts]
    listing = [{"PartNumber": n, "ETag": etags[n - 1], "ChecksumCRC32": _crc(d)} for n, d in enumerate(parts, 1)]
    done = client.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                            MultipartUpload={"Parts": listing}, MpuObjectSize=11 * MiB)
    joined = b"".join(zlib.crc32(d).to_bytes(4, "big") for d in parts)
    assert done["ChecksumCRC32"] == f"{_crc(joined)}-3"  # the CRC of the CRCs, not of the object
    assert done["ChecksumCRC32"] == object_checksum(Checksums.of(d) for d in parts)
    assert done["ChecksumCRC32"] != f"{_crc(b''.join(parts))}-3"


def test_complete_wants_each_parts_checksum_and_the_planned_size(raw_upload):
    client, bucket, upload_id = raw_upload
    parts = [blob(5 * MiB, seed=10), blob(2 * MiB, seed=11)]
    etags = [httpx.put(_part_url(client, bucket, upload_id, n, _crc(d)), content=d,
                       headers={"x-amz-checksum-crc32": _crc(d)}).headers["etag"] for n, d in enumerate(parts, 1)]
    listing = [{"PartNumber": n, "ETag": etags[n - 1], "ChecksumCRC32": _crc(d)} for n, d in enumerate(parts, 1)]

    def refused(parts: list[dict], **size: int) -> str:
        with pytest.raises(ClientError) as caught:
            client.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                             MultipartUpload={"Parts": parts}, **size)
        return f"{caught.value.response['Error']['Code']}: {caught.value.response['Error']['Message']}"

    without = [listing[0], {k: v for k, v in listing[1].items() if k != "ChecksumCRC32"}]
    assert refused(without).startswith("InvalidRequest: The upload was created using a crc32 checksum")
    assert refused([listing[0], {**listing[1], "ChecksumCRC32": _crc(parts[0])}]).startswith("InvalidPart")
    assert refused(listing, MpuObjectSize=8 * MiB).startswith("InvalidRequest")
    done = client.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                            MultipartUpload={"Parts": listing}, MpuObjectSize=7 * MiB)
    assert done["ChecksumCRC32"].endswith("-2"), "refused lists left the upload open and whole"


def test_the_uploader_sends_no_md5_and_checks_the_composite_crc32(world):  # noqa: F811
    server, _service, token, _ = world
    up = Uploader(server.url, token, progress=False)
    data = blob(11 * MiB, seed=6)
    result = up.upload(data, "crc.bin", part_size=5 * MiB)
    up.close()
    assert result.integrity == "crc32" and result.checksum == result.expected_checksum
    assert result.checksum == object_checksum(Checksums.of(data[i:i + 5 * MiB]) for i in range(0, len(data), 5 * MiB))
    signed = Uploader(server.url, token, progress=False)
    created = signed.start("look.bin", 6 * MiB, part_size=5 * MiB)
    url = signed.sign(created["upload_id"], 1, data[:5 * MiB])
    signed.abort(created["upload_id"])
    signed.close()
    assert "x-amz-checksum-crc32" in url["url"] and "content-md5" not in url["url"]
    assert set(url["headers"]) == {"x-amz-checksum-crc32"}


def test_corrupted_parts_are_refused_by_the_server_and_sent_again(world):  # noqa: F811
    server, _service, token, _ = world
    faults = FaultyTransport(share=0.0, corrupt_share=0.4, seed=5)
    up = Uploader(server.url, token, transport=faults, progress=False)
    data = blob(15 * MiB, seed=7)
    result = up.upload(data, "flipped.bin", part_size=5 * MiB)
    assert faults.injected["corrupted"] > 0 and result.retries == faults.injected["corrupted"]
    assert result.checksum == result.expected_checksum and up.download(result.upload_id) == data
    up.close()


def test_where_etags_are_not_md5s_the_legacy_client_fails_and_the_crc_client_does_not(world):  # noqa: F811
    """SSE-KMS and SSE-C: 'ETags that are not an MD5 digest of their object data' (the embedded server
    imitates that). A client that takes the ETag for an MD5 sees every part as corrupted."""
    server, _service, token, _ = world
    data = blob(6 * MiB, seed=8)
    legacy = Uploader(server.url, token, progress=False, integrity="md5")
    crc = Uploader(server.url, token, progress=False)
    with backends.s3().etags_not_md5():
        with pytest.raises(UploadFailed, match=f"failed {PART_ATTEMPTS} times .*ETag"):
            legacy.upload(data, "kms-legacy.bin", part_size=5 * MiB)
        result = crc.upload(data, "kms-crc.bin", part_size=5 * MiB)
    assert result.checksum == result.expected_checksum and crc.download(result.upload_id) == data
    legacy.close()
    crc.close()


def test_the_legacy_client_still_works_where_etags_are_md5s(world):  # noqa: F811
    server, _service, token, _ = world
    legacy = Uploader(server.url, token, progress=False, integrity="md5")
    data = blob(6 * MiB, seed=9)
    result = legacy.upload(data, "md5.bin", part_size=5 * MiB)
    legacy.close()
    assert result.integrity == "md5" and result.checksum == result.expected_checksum and result.checksum.endswith('-2"')


def test_an_object_whose_checksum_the_server_does_not_report_is_not_trusted():
    up = Uploader("http://127.0.0.1:9", "token", progress=False)
    result = UploadResult("u", "k", 10)
    with pytest.raises(UploadFailed, match="reported no checksum"):
        up._verify(result, {"etag": '"x-1"'}, [Checksums.of(b"0123456789")])
    with pytest.raises(UploadFailed, match="assembled something else"):
        up._verify(result, {"etag": '"x-1"', "checksum_crc32": "AAAAAA==-1"}, [Checksums.of(b"0123456789")])
    up.close()
