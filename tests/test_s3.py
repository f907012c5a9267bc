"""S3 multipart uploads: planning, integrity, the backend's checks, and the client under faults.

Everything runs against a real S3 HTTP endpoint: COURSE_S3_ENDPOINT when set, else moto's server
in-process. The API runs on the embedded SQL and Redis backends unless services are configured.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from course_lib import api, backends, failpoints, logs
from course_lib.api.tables import reset_tables
from course_lib.auth import TokenService, seed_users
from course_lib.lab.flaky_network import FaultyTransport
from course_lib.s3 import (
    MIN_PART,
    MiB,
    PlanError,
    Uploader,
    UploadFailed,
    UploadService,
    md5_digest,
    multipart_etag,
    plan,
    url_expired,
)
from course_lib.s3.buffers import PartBuffers, SourceChanged
from course_lib.s3.integrity import Checksums, crc32_checksum
from course_lib.s3.lookahead import SignAhead
from course_lib.s3.plan import GiB, Part, PartPlan, TiB
from course_lib.s3.uploader import PART_STORED


@pytest.fixture(scope="module")
def world():
    """The course API with uploads on this process's S3 backend, and a token for the demo user Ada."""
    logs.discard()
    engine = backends.sql().engine
    reset_tables(engine)
    ada, grace, *_ = seed_users(engine)
    service = UploadService.on(engine, backends.s3(), bucket="course-test-uploads")
    server = api.start(api.create_app(engine, backends.redis().new_client(), upload_service=service))
    tokens = {u.email: TokenService(engine).create(u.id, "test", ["uploads:write"]).plain_text for u in (ada, grace)}
    yield server, service, tokens["ada@example.com"], tokens["grace@example.com"]
    server.stop()


@pytest.fixture
def uploader(world):
    server, _service, token, _ = world
    up = Uploader(server.url, token, progress=False)
    yield up
    up.close()


def blob(size: int, seed: int = 1) -> bytes:
    return hashlib.shake_256(seed.to_bytes(4, "big")).digest(size)


# -- planning and integrity -------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "part_size", "count"), [
    (1, None, 1), (20 * MiB, None, 3), (1 * GiB, None, 128),  # 8 MiB parts
    (100 * GiB, None, 9_310),  # 11 MiB parts: the smallest whole MiB within 10,000
    (5 * TiB, None, 9_987),  # 525 MiB parts
])
def test_plan_keeps_within_s3_limits(size, part_size, count):
    p = plan(size, part_size)
    assert p.count == count and p.count <= 10_000
    parts = p.parts()
    assert sum(x.length for x in parts) == size and all(x.length >= MIN_PART for x in parts[:-1])


@pytest.mark.parametrize(("size", "part_size", "match"), [
    (0, None, "positive"), (49 * TiB, None, "48.8 TiB"), (20 * MiB, 1 * MiB, "5 MiB minimum"),
    (100 * GiB, 5 * MiB, "10,000"), (10 * GiB, 6 * GiB, "5 GiB maximum"),
])
def test_plan_refuses_what_s3_would_with_a_fix_in_the_message(size, part_size, match):
    with pytest.raises(PlanError, match=match):
        plan(size, part_size)


def test_multipart_etag_is_md5_of_part_md5s_with_the_count():
    parts = [b"a" * 10, b"b" * 10]
    expected = hashlib.md5(md5_digest(parts[0]) + md5_digest(parts[1])).hexdigest()
    assert multipart_etag(md5_digest(p) for p in parts) == f'"{expected}-2"'


def test_url_expiry_is_read_from_the_signature():
    url = "http://s3/b/k?X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-Signature=x"
    assert url_expired(url) and not url_expired("http://s3/b/k?partNumber=1")


# -- hashing and signing ahead ----------------------------------------------------------------------

class RecordingSigner:
    """Stands in for POST /sign: records each batch, answers a URL per part."""

    def __init__(self, expires_in_s: int = 900) -> None:
        self.batches: list[list[int]] = []
        self.expires_in_s = expires_in_s

    def __call__(self, parts):
        self.batches.append(sorted(parts))
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        return [{"number": n, "url": f"http://s3/k?partNumber={n}&X-Amz-Date={stamp}&X-Amz-Expires={self.expires_in_s}",
                 "headers": {}} for n in parts]


def sign_ahead(signer, count: int = 32, window: int = 8, skip=None) -> SignAhead:
    data = blob(count * 1024)
    parts = [Part(n, (n - 1) * 1024, 1024) for n in range(1, count + 1)]
    return SignAhead(parts, lambda p: Checksums.of(data[p.offset:p.offset + p.length]), signer, window=window,
                     lookahead=2 * window, skip=skip, url_expired=url_expired)


def test_parts_are_signed_a_window_at_a_time_and_never_twice():
    signer = RecordingSigner()
    ahead = sign_ahead(signer)
    urls = [ahead.url(n) for n in range(1, 33)]
    ahead.close()
    assert [u["number"] for u in urls] == list(range(1, 33))
    assert len(signer.batches) <= 4 and all(len(b) >= 8 for b in signer.batches[:-1])  # windows of 8, then the tail
    signed = [n for batch in signer.batches for n in batch]
    assert sorted(signed) == list(range(1, 33)), "each part signed exactly once"


def test_the_first_wave_is_one_request_whichever_worker_comes_first():
    signer = RecordingSigner()
    ahead = sign_ahead(signer, count=8)
    for n in (8, 3, 1, 5, 2, 7, 4, 6):  # the workers reach the lock in any order
        assert ahead.url(n)["number"] == n
    ahead.close()
    assert signer.batches == [list(range(1, 9))]


def test_parts_the_server_already_holds_are_never_signed():
    data = blob(32 * 1024)
    held = {n: {"etag": '"opaque"', "crc32": crc32_checksum(data[(n - 1) * 1024:n * 1024])} for n in range(1, 33)
            if n % 2}
    signer = RecordingSigner()
    ahead = sign_ahead(signer, skip=held)
    missing = [n for n in range(1, 33) if ahead.needed(n)]
    for n in missing:
        ahead.url(n)
    ahead.close()
    assert missing == list(range(2, 33, 2))
    assert sorted(n for batch in signer.batches for n in batch) == missing


def test_a_url_that_expired_while_waiting_is_signed_again():
    signer = RecordingSigner(expires_in_s=0)  # every URL is already past its expiry when taken
    ahead = sign_ahead(signer, count=4, window=4)
    assert ahead.url(1)["number"] == 1  # signs 1-4 at once
    assert ahead.url(2)["number"] == 2  # 2's URL, signed ahead, has expired: a new one
    ahead.close()
    assert signer.batches == [[1, 2, 3, 4], [2]]


def test_a_32_part_upload_makes_a_handful_of_sign_calls(world):
    server, _service, token, _ = world
    up = Uploader(server.url, token, concurrency=8, progress=False)
    result = up.upload(blob(32 * 5 * MiB, seed=9), "many.bin", part_size=5 * MiB)
    up.close()
    assert result.checksum == result.expected_checksum and result.sent == 32
    assert result.sign_calls <= 8, f"{result.sign_calls} sign calls for 32 parts"


def test_parts_are_read_into_buffers_that_later_uploads_reuse(world, tmp_path):
    """A fresh `bytes` per read faults its pages in again on every part (buffers.py). Three uploads of
    8 parts read 48 times (hashed, then sent); buffers are made at most once per part read at the same
    time: 4 PUTs in flight plus 4 parts being hashed."""
    server, _service, token, _ = world
    path = tmp_path / "thrice.bin"
    path.write_bytes(blob(40 * MiB, seed=12))
    up = Uploader(server.url, token, concurrency=4, progress=False)
    results = [up.upload(path, f"{n}.bin", part_size=5 * MiB) for n in range(3)]
    assert all(r.checksum == r.expected_checksum for r in results)
    assert up.download(results[-1].upload_id) == path.read_bytes()
    assert 1 <= up._buffers.allocated <= 2 * 4, f"{up._buffers.allocated} buffers for 48 reads"
    up.close()


def test_a_part_is_lent_from_memory_without_a_copy_and_a_short_file_is_refused(tmp_path):
    buffers, data = PartBuffers(), blob(3 * MiB, seed=13)
    with buffers.read(data, Part(2, MiB, MiB)) as view:
        assert view.obj is data and view == data[MiB:2 * MiB]
    path = tmp_path / "short.bin"
    path.write_bytes(data[:2 * MiB + 10])
    short = pytest.raises(SourceChanged, match="ends 1048566 bytes before part 3 does: the file changed")
    with short, buffers.read(path, Part(3, 2 * MiB, MiB)):
        pass
    assert buffers.allocated == 1 and len(buffers._free) == 1, "the buffer went back to the pool"


def test_the_first_window_is_hashed_while_the_upload_is_created(world, monkeypatch):
    """The API plans with the same rules as the client, so the first parts' checksums are ready when
    the upload id comes back; a plan the API made otherwise is hashed again, not trusted."""
    server, _service, token, _ = world
    up = Uploader(server.url, token, concurrency=4, progress=False)
    hashed_during_create, created = [], threading.Event()
    real_start, real_checksums = up.start, up._checksums

    def slow_start(*args, **kwargs):
        created.clear()
        time.sleep(0.3)
        answer = real_start(*args, **kwargs)
        created.set()
        return answer

    def checksums(source, part):
        if not created.is_set():
            hashed_during_create.append(part.number)
        return real_checksums(source, part)

    monkeypatch.setattr(up, "start", slow_start)
    monkeypatch.setattr(up, "_checksums", checksums)
    data = blob(40 * MiB, seed=14)
    result = up.upload(data, "early.bin", part_size=5 * MiB)
    assert sorted(hashed_during_create) == [1, 2, 3, 4] and result.checksum == result.expected_checksum
    hashed_during_create.clear()
    monkeypatch.setattr("course_lib.s3.uploader.plan", lambda size, part_size: PartPlan(size, 8 * MiB))
    result = up.upload(data, "replanned.bin", part_size=5 * MiB)  # guessed 8 MiB parts, the API made 5 MiB
    assert result.checksum == result.expected_checksum and len(result.parts) == 8
    assert up.download(result.upload_id) == data
    up.close()


# -- the client and the backend ---------------------------------------------------------------------

def test_upload_completes_with_the_multipart_etag_and_the_same_bytes(uploader):
    data = blob(12 * MiB)
    result = uploader.upload(data, "twelve.bin", part_size=5 * MiB)
    assert result.checksum == result.expected_checksum and result.checksum.endswith("-3")
    assert uploader.download(result.upload_id) == data


def test_twenty_percent_failing_puts_still_complete_256_mib_with_the_right_etag(world):
    server, _service, token, _ = world
    faults = FaultyTransport(share=0.2, seed=7)
    up = Uploader(server.url, token, transport=faults, progress=False)
    data = os.urandom(256 * MiB)
    result = up.upload(data, "big.bin")
    assert result.checksum == result.expected_checksum
    assert sum(faults.injected.values()) > 0 and result.retries >= sum(faults.injected.values())
    up.close()


def test_a_corrupted_part_is_rejected_and_sent_again(world):
    server, _service, token, _ = world
    faults = FaultyTransport(share=0.0, corrupt_share=0.5, seed=3)
    up = Uploader(server.url, token, transport=faults, progress=False)
    data = blob(15 * MiB, seed=2)
    result = up.upload(data, "corrupt.bin", part_size=5 * MiB)
    assert faults.injected["corrupted"] > 0 and result.retries >= faults.injected["corrupted"]
    assert result.checksum == result.expected_checksum and up.download(result.upload_id) == data
    up.close()


def test_a_file_that_changes_during_the_upload_stops_it_with_a_clear_error(world, uploader, tmp_path):
    path = tmp_path / "changing.bin"
    path.write_bytes(blob(10 * MiB, seed=5))
    created = uploader.start("changing.bin", 10 * MiB, part_size=5 * MiB)
    hashed = Checksums.of(path.read_bytes()[:5 * MiB])
    path.write_bytes(blob(10 * MiB, seed=6))  # someone writes to the file between hashing and sending
    with pytest.raises(UploadFailed, match="the file changed during the upload"):
        uploader.put_part(created["upload_id"], Part(1, 0, 5 * MiB), path.read_bytes()[:5 * MiB], hashed, 0.0)
    uploader.abort(created["upload_id"])


def test_a_crashed_upload_resumes_sending_only_the_missing_parts(world):
    from course_lib.failpoints import SimulatedCrash

    server, _service, token, _ = world
    uploader = Uploader(server.url, token, concurrency=2, progress=False)
    data = blob(40 * MiB, seed=4)
    with pytest.raises(SimulatedCrash), failpoints.crash_at(PART_STORED, on_hit=3):
        uploader.upload(data, "resume.bin", part_size=5 * MiB)
    (upload_id,) = uploader.journal
    stored = {p["number"] for p in uploader.list_parts(upload_id)}
    assert 3 <= len(stored) <= 4  # the crash point, plus at most the other part on the wire
    result = uploader.resume(upload_id, data)
    assert result.sent == 8 - len(stored) and {p.number for p in result.parts}.isdisjoint(stored)
    assert result.checksum == result.expected_checksum and uploader.download(upload_id) == data
    uploader.close()


def test_after_abort_parts_are_refused_without_retrying(uploader):
    from course_lib.s3 import UploadAborted
    from course_lib.s3.plan import Part

    created = uploader.start("aborted.bin", 10 * MiB, 5 * MiB)
    uploader.abort(created["upload_id"])
    data = blob(5 * MiB)
    start = time.perf_counter()
    with pytest.raises((UploadAborted, UploadFailed), match="aborted"):
        uploader.put_part(created["upload_id"], Part(1, 0, 5 * MiB), data, Checksums.of(data), start)
    assert time.perf_counter() - start < 2, "no backoff-and-retry loop on an aborted upload"


def _three_parts(uploader, data: bytes, part: int = 5 * MiB) -> tuple[str, list[dict]]:
    """An upload of `data` in parts of `part` bytes, every part sent, not completed: (id, [{number, etag, crc32}])."""
    created, t0 = uploader.start("checks.bin", len(data), part), time.perf_counter()
    chunks = [data[i:i + part] for i in range(0, len(data), part)]
    done = [uploader.put_part(created["upload_id"], Part(n, (n - 1) * part, len(chunk)), chunk, Checksums.of(chunk), t0)
            for n, chunk in enumerate(chunks, start=1)]
    return created["upload_id"], [{"number": p.number, "etag": p.etag, "crc32": Checksums.of(c).crc32}
                                  for p, c in zip(done, chunks, strict=True)]


def test_complete_refuses_missing_unordered_or_mismatched_parts(world, uploader):
    upload_id, refs = _three_parts(uploader, blob(11 * MiB, seed=5))
    complete = lambda parts: uploader.api.post(f"/api/uploads/{upload_id}/complete", json={"parts": parts})  # noqa: E731
    assert complete(refs[:2]).json()["title"] == "Parts missing"
    assert complete([refs[1], refs[0], refs[2]]).json()["title"] == "Parts out of order"
    wrong_etag = complete([refs[0], {**refs[1], "etag": '"00"'}, refs[2]]).json()
    assert wrong_etag["title"] == "Invalid part" and "InvalidPart" in wrong_etag["detail"]
    wrong_crc = complete([refs[0], {**refs[1], "crc32": refs[0]["crc32"]}, refs[2]]).json()
    assert wrong_crc["title"] == "Invalid part", "S3 checks each listed CRC32 against the part it stored"
    assert complete([*refs, {"number": 4, "etag": '"00"'}]).status_code == 422
    assert complete([{**refs[0], "crc32": "not base64"}, *refs[1:]]).status_code == 422
    assert complete(refs).status_code == 200


def test_complete_lists_no_parts_when_the_client_sends_their_crc32s(world, uploader, monkeypatch):
    """CompleteMultipartUpload checks every part itself (S3 API reference): a ListParts first would be a
    round trip more on every upload. Only a client that sends no CRC32s costs one, to look them up."""
    listed, real = [], UploadService.list_parts
    monkeypatch.setattr(UploadService, "list_parts", lambda self, *a: listed.append(a) or real(self, *a))
    upload_id, refs = _three_parts(uploader, blob(11 * MiB, seed=8))
    assert uploader.api.post(f"/api/uploads/{upload_id}/complete", json={"parts": refs}).status_code == 200
    assert listed == []
    upload_id, refs = _three_parts(uploader, blob(11 * MiB, seed=9))
    bare = [{"number": r["number"], "etag": r["etag"]} for r in refs]
    assert uploader.api.post(f"/api/uploads/{upload_id}/complete", json={"parts": bare}).status_code == 200
    assert len(listed) == 1


def test_parts_that_do_not_add_up_to_the_planned_size_are_refused_at_complete(world, uploader):
    """x-amz-mp-object-size: S3 refuses a completion whose parts do not add up to the size the backend
    planned. A presigned part cannot be longer than planned (next test); this one is stored with the
    backend's own credentials, as a part that reached the bucket some other way."""
    _server, service, _token, _ = world
    data = blob(10 * MiB, seed=6)
    created, t0 = uploader.start("small.bin", len(data), 5 * MiB), time.perf_counter()
    first, longer = data[:5 * MiB], data[5 * MiB:] + b"x" * MiB  # the last part 1 MiB too long
    one = uploader.put_part(created["upload_id"], Part(1, 0, 5 * MiB), first, Checksums.of(first), t0)
    two = service.s3.upload_part(Bucket=service.bucket, Key=created["key"], UploadId=created["upload_id"],
                                 PartNumber=2, Body=longer, ChecksumCRC32=Checksums.of(longer).crc32)
    listed = [{"number": 1, "etag": one.etag, "crc32": Checksums.of(first).crc32},
              {"number": 2, "etag": two["ETag"], "crc32": Checksums.of(longer).crc32}]
    answer = uploader.api.post(f"/api/uploads/{created['upload_id']}/complete", json={"parts": listed})
    assert answer.status_code == 422 and answer.json()["title"] == "Parts do not add up"
    assert "11534336" in answer.json()["detail"] and "10485760" in answer.json()["detail"]


def test_each_part_url_is_signed_for_its_planned_length(world, uploader, monkeypatch):
    """Content-Length among X-Amz-SignedHeaders, signed with the planned length: S3 (and the embedded
    server's S3 layer) then refuses a body of another length at PUT with 403 SignatureDoesNotMatch."""
    _server, service, _token, _ = world
    signed_lengths, presign = {}, service.s3.generate_presigned_url

    def recording(operation, Params, **kwargs):
        signed_lengths[Params["PartNumber"]] = Params.get("ContentLength")
        return presign(operation, Params=Params, **kwargs)

    monkeypatch.setattr(service.s3, "generate_presigned_url", recording)
    created = uploader.start("lengths.bin", 12 * MiB, 5 * MiB)
    urls = uploader.sign_parts(created["upload_id"], {1: Checksums("AAAAAA=="), 3: Checksums("AAAAAA==")})
    uploader.abort(created["upload_id"])
    assert signed_lengths == {1: 5 * MiB, 3: 2 * MiB}
    for signed in urls:
        assert "content-length" in parse_qs(urlsplit(signed["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
    longer = httpx.put(urls[1]["url"], content=b"x" * (2 * MiB + 1), headers=urls[1]["headers"])
    assert longer.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in longer.text


def test_wrong_part_numbers_and_expired_urls_are_caught(world, uploader):
    _server, service, _token, _ = world
    created = uploader.start("numbers.bin", 10 * MiB, 5 * MiB)
    checksums = {"crc32": "AAAAAA=="}
    signed = uploader.api.post(f"/api/uploads/{created['upload_id']}/sign", json={"parts": {"3": checksums}})
    assert signed.status_code == 422 and signed.json()["title"] == "Wrong part number"
    short = UploadService(service.engine, service.s3, bucket=service.bucket, url_expiry_s=1)
    url = short.sign(1, created["upload_id"], {1: ("AAAAAA==", None)})[0]["url"]
    signed_at = datetime.strptime(parse_qs(urlsplit(url).query)["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert not url_expired(url, now=signed_at)
    assert url_expired(url, now=signed_at + timedelta(seconds=1)), \
        "the client refuses to send on an expired URL, whatever the server would accept"


def test_another_users_upload_is_not_found(world, uploader):
    server, _service, _token, grace_token = world
    created = uploader.start("mine.bin", 6 * MiB, 5 * MiB)
    grace = Uploader(server.url, grace_token, progress=False)
    with pytest.raises(UploadFailed, match="404"):
        grace.list_parts(created["upload_id"])
    with pytest.raises(UploadFailed, match="404"):
        grace.abort(created["upload_id"])
    grace.close()


# --- against AWS's documentation --------------------------------------------------------------------

def test_starting_the_service_keeps_the_buckets_other_lifecycle_rules(world):
    """PutBucketLifecycleConfiguration replaces every rule: the service merges its own into the others."""
    _server, service, _token, _ = world
    theirs = {"ID": "expire-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}
    service.s3.put_bucket_lifecycle_configuration(Bucket=service.bucket, LifecycleConfiguration={"Rules": [theirs]})
    again = UploadService(service.engine, service.s3, bucket=service.bucket)
    rules = {r["ID"] for r in again.s3.get_bucket_lifecycle_configuration(Bucket=service.bucket)["Rules"]}
    assert rules == {"expire-logs", "abort-incomplete-multipart-uploads"}


@pytest.mark.parametrize("seconds", [0, 7 * 24 * 3600 + 1, 10_000_000])
def test_presigned_urls_live_at_most_sigv4s_seven_days(world, seconds):
    _server, service, _token, _ = world
    with pytest.raises(ValueError, match="7 days"):
        UploadService(service.engine, service.s3, bucket=service.bucket, url_expiry_s=seconds)


def test_aborting_an_upload_the_lifecycle_rule_already_removed_succeeds_and_stays_aborted(world, uploader):
    _server, service, _token, _ = world
    created = uploader.start("gone.bin", 6 * MiB, 5 * MiB)
    # the lifecycle rule aborts it behind our back
    service.s3.abort_multipart_upload(Bucket=service.bucket, Key=created["key"], UploadId=created["upload_id"])
    uploader.abort(created["upload_id"])
    assert uploader.api.get(f"/api/uploads/{created['upload_id']}").json()["status"] == "aborted"


def test_a_403_on_a_part_url_signs_it_again_instead_of_failing_the_upload(uploader):
    refused = {"count": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT" and refused["count"] == 0:
            refused["count"] += 1
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message>")
        return passthrough.handle_request(request)

    passthrough = httpx.HTTPTransport()
    flaky = Uploader(str(uploader.api.base_url), uploader.api.headers["authorization"].split(" ", 1)[1],
                     transport=httpx.MockTransport(handler), progress=False, concurrency=1)
    try:
        data = blob(6 * MiB, seed=9)
        result = flaky.upload(data, "resigned.bin", part_size=5 * MiB)
    finally:
        flaky.close()
    assert refused["count"] == 1 and result.checksum == result.expected_checksum and result.sign_calls >= 2
