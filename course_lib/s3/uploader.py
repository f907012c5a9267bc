"""The client's half of a presigned multipart upload: no S3 credentials, only the course API and plain HTTP.

    uploader = Uploader(api_url, token)
    result = uploader.upload(path)            # init, sign, parallel PUTs with retries, complete
    result = uploader.resume(upload_id, path) # after a crash: ListParts, send only what is missing

Each part: CRC32 its bytes, get a URL bound to that checksum (and the part's length) from the API,
PUT the bytes with x-amz-checksum-crc32; the server refuses a body that does not match (400 BadDigest)
and answers the CRC32 of what it stored, which must be ours. Hashing and signing run ahead of the
PUTs, several parts to a sign call (`lookahead.SignAhead`); parts are read into buffers the uploader
keeps (`buffers.PartBuffers`). Failures (5xx, timeouts, a corrupted part) are retried with full
jitter from course_lib.retry; a part of an aborted upload is not retried. Complete lists each part's
ETag and CRC32; the object's composite checksum (CRC32 of the parts' CRC32s, "-N") must equal the
one computed locally.

`integrity="md5"` is the legacy path the lesson explains: Content-MD5 per part, each part's ETag
compared with its MD5, the object's ETag with the multipart ETag. It breaks where the ETag is not an
MD5 (SSE-KMS, SSE-C): every part then looks corrupted.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from tqdm.auto import tqdm

from course_lib import failpoints
from course_lib.backends.sigv4 import expires_at
from course_lib.retries.policies import FullJitter, RetriesExhausted, Retryable, RetryPlan, retry
from course_lib.s3.buffers import PartBuffers, Source, SourceChanged
from course_lib.s3.integrity import Checksums, Integrity, multipart_etag, object_checksum
from course_lib.s3.lookahead import SignAhead
from course_lib.s3.plan import Part, PartPlan, PlanError, plan

# Eight parts in flight: enough to fill a link's bandwidth-delay product on a LAN, few enough that a
# 2-core laptop is not just switching threads. boto3's TransferManager defaults to 10.
DEFAULT_CONCURRENCY = 8
PART_ATTEMPTS = 8
# The failpoint reached each time a part is stored (detail: its number): a lesson kills the client
# there (`failpoints.crash_at(PART_STORED, on_hit=4)`: dead once 4 parts are on the server).
PART_STORED = "part stored"
# S3's answers to a body whose checksum differs from the one it was told: the bytes were damaged on the way.
CHECKSUM_ERRORS = ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch")
# A part borrowed from a buffer is sent in slices this size: each is copied once into the socket's
# write (h11 joins what it sends), a copy small enough to reuse the same memory every time.
SEND_CHUNK = 256 * 1024


class UploadFailed(Exception):
    """The upload cannot finish as asked; the message says why and what to do."""


class UploadAborted(UploadFailed):
    """The upload was aborted: its parts are gone and retrying them cannot succeed."""


@dataclass
class PartResult:
    number: int
    etag: str
    attempts: int
    started: float  # seconds since the upload began
    finished: float


@dataclass
class UploadResult:
    upload_id: str
    key: str
    size: int
    integrity: Integrity = "crc32"
    etag: str = ""
    checksum: str = ""  # what the server reports: the composite CRC32 (crc32 path) or the object's ETag (md5 path)
    expected_checksum: str = ""  # the same, computed locally from what we sent
    parts: list[PartResult] = field(default_factory=list)
    seconds: float = 0.0  # the whole call: create (or ListParts for a resume) to complete
    complete_seconds: float = 0.0  # the server assembling the parts (CompleteMultipartUpload)
    sign_calls: int = 0  # API round trips for URLs: fewer than parts, several are signed per call

    @property
    def sent(self) -> int:
        """Parts sent in this call (a resume sends only the missing ones)."""
        return len(self.parts)

    @property
    def retries(self) -> int:
        return sum(p.attempts - 1 for p in self.parts)

    @property
    def mb_per_s(self) -> float:
        return self.size / 1e6 / self.seconds if self.seconds else 0.0


def url_expired(url: str, now: datetime | None = None) -> bool:
    """True when a SigV4 presigned URL is past X-Amz-Date + X-Amz-Expires (checked before sending, so that
    a part is never sent on a URL S3 would refuse with 403)."""
    until = expires_at({k: v[0] for k, v in parse_qs(urlsplit(url).query).items()})
    return until is not None and (now or datetime.now(UTC)) >= until


def _body(data: bytes | memoryview) -> tuple[Any, dict[str, str]]:
    """What httpx sends for a part: `bytes` as they are; a view of a buffer in slices, with its length
    declared (the URL signs Content-Length; without it httpx would send the slices chunked)."""
    if isinstance(data, bytes):
        return data, {}
    return [data[i:i + SEND_CHUNK] for i in range(0, len(data), SEND_CHUNK)], {"Content-Length": str(len(data))}


def _local_plan(size: int, part_size: int | None) -> PartPlan | None:
    """The plan the API will make for this upload, or None where it will refuse one (it says why)."""
    try:
        return plan(size, part_size)
    except PlanError:
        return None


def _size(source: Source) -> int:
    return len(source) if isinstance(source, bytes | bytearray | memoryview) else Path(source).stat().st_size


class Uploader:
    """Uploads through the course API's /api/uploads endpoints and presigned part URLs."""

    def __init__(self, api_url: str, token: str, concurrency: int = DEFAULT_CONCURRENCY,
                 transport: httpx.BaseTransport | None = None, seed: int = 0, progress: bool = True,
                 timeout_s: float = 60.0, integrity: Integrity = "crc32") -> None:
        self.api = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.http = httpx.Client(transport=transport, limits=limits, timeout=timeout_s)
        self.concurrency, self.seed, self.progress, self.integrity = concurrency, seed, progress, integrity
        self._buffers = PartBuffers()
        self._aborted: set[str] = set()
        # The client's own record of uploads it started and has not completed: what a real client
        # keeps in a state file so that, after a crash, it knows which upload to resume.
        self.journal: dict[str, dict] = {}

    # -- the API calls (backend role) --------------------------------------------------------------

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of one course API call (None for 204); UploadFailed or UploadAborted otherwise."""
        response = self.api.request(method, path, **kwargs)
        if response.status_code >= 400:
            problem = response.json()
            if response.status_code == 409 and str(problem.get("title", "")).startswith("Upload aborted"):
                raise UploadAborted(f"upload was aborted: {problem.get('detail')}")
            raise UploadFailed(f"{method} {path}: {response.status_code} {problem.get('title')}: "
                               f"{problem.get('detail')}")
        return response.json() if response.content else None

    def start(self, filename: str, size: int, part_size: int | None = None) -> dict:
        body = {"filename": filename, "size": size, **({"part_size": part_size} if part_size else {})}
        return self._api("POST", "/api/uploads", json=body)

    def sign(self, upload_id: str, number: int, data: bytes | memoryview, checksums: Checksums | None = None) -> dict:
        """A presigned PUT URL for part `number`, bound to these bytes' checksums."""
        return self.sign_parts(upload_id, {number: checksums or Checksums.of(data, self.integrity)})[0]

    def sign_parts(self, upload_id: str, parts: dict[int, Checksums]) -> list[dict]:
        """Presigned PUT URLs for several parts in one request, each bound to its part's checksums."""
        body = {"parts": {str(n): checksums.as_json() for n, checksums in parts.items()}}
        return self._api("POST", f"/api/uploads/{upload_id}/sign", json=body)

    def list_parts(self, upload_id: str) -> list[dict]:
        return self._api("GET", f"/api/uploads/{upload_id}/parts")

    def abort(self, upload_id: str) -> None:
        self._aborted.add(upload_id)
        self._api("DELETE", f"/api/uploads/{upload_id}")

    def download_url(self, upload_id: str) -> str:
        return self._api("GET", f"/api/uploads/{upload_id}/download")["url"]

    # -- one part ------------------------------------------------------------------------------------

    def put_part(self, upload_id: str, part: Part, data: bytes | memoryview, checksums: Checksums, t0: float,
                 url: Callable[[], dict] | None = None) -> PartResult:
        """PUT one part until the server holds exactly these bytes (`checksums`, taken when they were read).
        `url` gives a presigned URL (one signed ahead); by default each part asks the API for its own.
        A retry reuses the URL until it expires."""
        attempts, started, signed, refused_403 = 0, time.perf_counter() - t0, None, False
        own_url = lambda: self.sign(upload_id, part.number, data, checksums)  # noqa: E731
        new_url = url or own_url

        def attempt() -> str:
            nonlocal attempts, signed, refused_403
            attempts += 1
            if signed is None or url_expired(signed["url"]):
                signed = own_url() if refused_403 else new_url()  # after a 403, never the same URL again
            if url_expired(signed["url"]):  # clock skew or a very slow queue: ask again rather than send
                signed = None
                raise Retryable(f"part {part.number}: the signed URL had expired before it was used")
            content, length = _body(data)
            try:
                response = self.http.put(signed["url"], content=content, headers={**signed["headers"], **length})
            except httpx.TransportError as exc:
                raise Retryable(f"part {part.number}: {type(exc).__name__}", timeout=True) from None
            if response.status_code == 403:  # the URL was refused (expired on a slow link, or revoked): sign anew
                signed, refused_403 = None, True
                raise Retryable(f"part {part.number}: 403 on its signed URL; signing it again")
            self._check_put(response, upload_id, part, refused)
            if differs := checksums.stored_as_sent(response.headers, self.integrity):
                raise refused(differs)  # the server stored other bytes than the ones hashed
            return str(response.headers.get("etag", ""))

        def refused(reason: str) -> Exception:
            """Bytes the server did not store as hashed: damaged on the way (send again), or the part was
            read again after hashing and the source had changed in between (stop: retrying cannot help)."""
            if Checksums.of(data, self.integrity) != checksums:
                return UploadFailed(f"part {part.number} is no longer the bytes that were hashed: the file changed "
                                    "during the upload; upload it again once nothing is writing to it")
            return Retryable(f"part {part.number}: {reason}")

        plan = RetryPlan(FullJitter(base_s=0.05, cap_s=2.0, seed=self.seed * 100_003 + part.number),
                         attempts=PART_ATTEMPTS, method="PUT")
        try:
            etag = retry(attempt, plan)
        except RetriesExhausted as exc:
            raise UploadFailed(f"part {part.number} failed {PART_ATTEMPTS} times ({exc.last}); the upload can be "
                               f"resumed with Uploader.resume({upload_id!r}, ...)") from None
        return PartResult(part.number, etag, attempts, started, time.perf_counter() - t0)

    def _check_put(self, response: httpx.Response, upload_id: str, part: Part,
                   refused: Callable[[str], Exception]) -> None:
        """Raise what a failed part PUT means: aborted (stop), retryable (send again), or failed (stop)."""
        status = response.status_code
        if status in (404, 500) and self._is_aborted(upload_id):
            raise UploadAborted(f"upload {upload_id} was aborted; its parts are gone: start a new upload")
        if status >= 500 or status == 429:
            raise Retryable(f"part {part.number}: {status}")
        if status == 400 and any(code in response.text for code in CHECKSUM_ERRORS):
            # Real S3 refuses a body that does not match the signed checksums.
            raise refused(f"the server refused corrupted bytes ({response.text[:80]})")
        if status >= 400:
            raise UploadFailed(f"part {part.number}: {status} {response.text[:200]}")

    def _is_aborted(self, upload_id: str) -> bool:
        if upload_id in self._aborted:
            return True
        response = self.api.get(f"/api/uploads/{upload_id}")
        return response.status_code == 200 and response.json()["status"] == "aborted"

    # -- whole uploads -------------------------------------------------------------------------------

    def upload(self, source: Source, filename: str = "upload.bin", part_size: int | None = None) -> UploadResult:
        """Upload `source` (bytes or a file path). If the client dies mid-way (a lesson arms a crash at
        PART_STORED), nothing is completed or aborted: the journal keeps the upload id for `resume`."""
        t0 = time.perf_counter()  # the upload's clock starts before CreateMultipartUpload
        created, ahead = self._create_hashing(source, filename, part_size)
        self.journal[created["upload_id"]] = created
        return self._send(created, source, skip={}, t0=t0, ahead=ahead)

    def _create_hashing(self, source: Source, filename: str, part_size: int | None) -> tuple[dict, SignAhead | None]:
        """Create the upload while its first window is hashed, on the plan the API will make (the same
        rules, `plan.plan`). If the API planned otherwise, those hashes are dropped (None: start afresh)."""
        size, upload = _size(source), dict[str, Any]()
        guess = _local_plan(size, part_size)
        ahead = self._sign_ahead(guess, source, lambda: upload["upload_id"], skip={}) if guess else None
        if ahead:
            ahead.prefetch()
        try:
            upload.update(self.start(filename, size, part_size))
        except BaseException:
            if ahead:
                ahead.close()
            raise
        if ahead and PartPlan(upload["size"], upload["part_size"]) != guess:
            ahead.close()
            ahead = None
        return upload, ahead

    def resume(self, upload_id: str, source: Source) -> UploadResult:
        """Finish an interrupted upload: ask which parts the server holds, send only the others."""
        status = self._api("GET", f"/api/uploads/{upload_id}")
        if status["status"] != "open":
            raise UploadFailed(f"upload {upload_id} is {status['status']}; nothing to resume")
        if status["size"] != _size(source):
            raise UploadFailed(f"upload {upload_id} was started for {status['size']} bytes, this source has "
                               f"{_size(source)}: resume with the same file")
        t0 = time.perf_counter()
        stored = {p["number"]: p for p in self.list_parts(upload_id)}
        return self._send(status, source, skip=stored, t0=t0)

    def _sign_ahead(self, plan: PartPlan, source: Source, upload_id: Callable[[], str],
                    skip: dict[int, dict]) -> SignAhead:
        """Hashing and signing ahead of the PUTs; `upload_id` is asked for only when signing."""
        return SignAhead(plan.parts(), lambda part: self._checksums(source, part),
                         lambda parts: self.sign_parts(upload_id(), parts), window=self.concurrency,
                         lookahead=2 * self.concurrency, skip=skip, url_expired=url_expired)

    def _send(self, created: dict, source: Source, skip: dict[int, dict], t0: float,
              ahead: SignAhead | None = None) -> UploadResult:
        """Every part in a worker: take its checksums (hashed ahead), skip it if the server already holds
        those bytes, else read it, take its URL (signed ahead) and PUT it. Then complete. Times count
        from `t0`, before the upload was created (or, for a resume, before ListParts)."""
        upload_id = created["upload_id"]
        plan = PartPlan(created["size"], created["part_size"])
        result = UploadResult(upload_id, created["key"], created["size"], self.integrity)
        bar = tqdm(total=plan.size, unit="B", unit_scale=True, desc=f"upload {created['key'][-24:]}",
                   disable=not self.progress, leave=False)
        ahead = ahead or self._sign_ahead(plan, source, lambda: upload_id, skip)
        lock, done, hashed, failed = threading.Lock(), [], {}, threading.Event()

        def one(part: Part) -> None:
            if failed.is_set():  # another part failed for good (or the client died): send nothing more
                return
            checksums = hashed[part.number] = ahead.checksums(part.number)
            if ahead.needed(part.number):
                with self._buffers.read(source, part) as data:
                    outcome = self.put_part(upload_id, part, data, checksums, t0, url=lambda: ahead.url(part.number))
                with lock:
                    done.append(outcome)
                failpoints.point(PART_STORED, str(part.number))
            bar.update(part.length)

        def guarded(part: Part) -> None:
            try:
                one(part)
            except SourceChanged as exc:
                failed.set()
                raise UploadFailed(str(exc)) from None
            except BaseException:
                failed.set()
                raise

        try:
            with ThreadPoolExecutor(self.concurrency) as pool:
                # Each worker runs in a copy of the caller's context (log fields, armed failpoints).
                futures = [pool.submit(contextvars.copy_context().run, guarded, p) for p in plan.parts()]
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
                first = next((f for f in finished if f.exception()), None)
                if first:
                    for f in futures:
                        f.cancel()
                    raise first.exception()  # type: ignore[misc]
        finally:
            bar.close()
            ahead.close()
        result.parts, result.sign_calls = sorted(done, key=lambda p: p.number), ahead.sign_calls
        # The ETag the server gave each part is only a handle for complete; what was checked is its checksum.
        etags = {**{n: stored["etag"] for n, stored in skip.items()}, **{p.number: p.etag for p in result.parts}}
        completing = time.perf_counter()
        completed = self._api("POST", f"/api/uploads/{upload_id}/complete",
                              json={"parts": [{"number": n, "etag": etags[n], "crc32": hashed[n].crc32}
                                              for n in sorted(hashed)]})
        result.seconds, result.complete_seconds = time.perf_counter() - t0, time.perf_counter() - completing
        self.journal.pop(upload_id, None)
        self._verify(result, completed, [hashed[n] for n in sorted(hashed)])
        return result

    def _checksums(self, source: Source, part: Part) -> Checksums:
        with self._buffers.read(source, part) as data:
            return Checksums.of(data, self.integrity)

    def _verify(self, result: UploadResult, completed: dict, sent: list[Checksums]) -> None:
        """The object must be our parts in our order: its composite CRC32 (or, legacy, its multipart ETag)
        equal to the one computed from what we sent."""
        result.etag = completed["etag"]
        if self.integrity == "md5":
            result.checksum, result.expected_checksum = result.etag, multipart_etag(c.md5 for c in sent if c.md5)
        else:
            result.checksum, result.expected_checksum = completed.get("checksum_crc32") or "", object_checksum(sent)
            if not result.checksum:
                raise UploadFailed("the server reported no checksum for the object, so nothing proves it is our "
                                   "parts: use an S3 endpoint that supports additional checksums (CRC32)")
        if result.checksum != result.expected_checksum:
            raise UploadFailed(f"the object's checksum {result.checksum} is not the one of what we sent "
                               f"({result.expected_checksum}): the server assembled something else; do not trust it")

    def download(self, upload_id: str) -> bytes:
        return self.http.get(self.download_url(upload_id)).raise_for_status().content

    def close(self) -> None:
        self.api.close()
        self.http.close()
        self._buffers.clear()


