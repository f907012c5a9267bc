"""What S3 checks and moto's server does not, added in front of moto's app for the embedded S3 server.

S3 refuses a PUT whose body does not match the Content-MD5 or x-amz-checksum-crc32 it was sent with
(400 BadDigest), lists each part's checksum in ListParts, and answers CompleteMultipartUpload with
the object's composite checksum: base64(CRC32 of the parts' binary CRC32s) + "-" + the part count
(S3 User Guide, "Checking object integrity": "Using part-level checksums for multipart uploads").
At complete it also wants each part's checksum in the list of an upload created with a checksum
algorithm (400 InvalidRequest when one is missing, InvalidPart when one is not the part's), and,
when the request carries x-amz-mp-object-size, parts that add up to it (400 InvalidRequest; API
reference, CompleteMultipartUpload). moto 5 stores whatever body arrives, echoes the client's
checksum and ignores both rules, so on it a corrupted part or a wrong-sized object would go unnoticed.
This WSGI layer makes those checks from the bytes the server actually received.

Presigned URLs are checked as S3 checks them (`sigv4.py`): a request whose signed headers differ from
the signed ones (another Content-Length, another CRC32 header) gets 403 SignatureDoesNotMatch, an
expired one 403 AccessDenied. moto checks no signature.

It can also answer ETags that are not MD5 digests (`opaque_etags`), as S3 does for objects encrypted
with SSE-KMS or SSE-C: the lesson shows what that does to a client that trusts the ETag as a checksum.
Everything else passes through to moto untouched.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import secrets
import threading
import zlib
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from course_lib.backends import sigv4
from course_lib.backends.s3_backend import EMBEDDED_CREDENTIALS

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def crc32_b64(data: bytes | memoryview) -> str:
    """base64 of the big-endian CRC32: the form of x-amz-checksum-crc32."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def composite_crc32(part_checksums: list[str]) -> str:
    """The object checksum S3 reports for a multipart upload with CRC32: the CRC32 of the parts' binary
    CRC32s, base64, then "-" and the number of parts."""
    joined = b"".join(base64.b64decode(c) for c in part_checksums)
    return f"{crc32_b64(joined)}-{len(part_checksums)}"


def _error(code: str, message: str, status: str = "400 Bad Request") -> tuple[str, list[tuple[str, str]], bytes]:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error>").encode()
    return status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body


class S3Fidelity:
    """WSGI middleware: checksum checks, part checksums in ListParts, the composite checksum at complete."""

    def __init__(self, app: WSGIApp, secrets: dict[str, str] | None = None) -> None:
        """`secrets`: access key id -> secret key, for the presigned URLs this server checks."""
        self.app, self.secrets = app, secrets or {}
        self.opaque_etags = False  # imitate SSE-KMS: ETags that are not MD5 digests
        self._lock = threading.Lock()
        self._parts: dict[tuple[str, int], tuple[str, int]] = {}  # (upload id, part number) -> stored (CRC32, size)
        self._algorithms: dict[str, str] = {}  # upload id -> the checksum algorithm it was created with
        self._opaque: dict[str, str] = {}  # opaque ETag -> moto's ETag, for the parts' ETags sent back at complete

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, query = environ["REQUEST_METHOD"], parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        upload_id = query.get("uploadId", [""])[0]
        if refused := sigv4.refusal(environ, self.secrets):
            _read_body(environ)  # read what was sent, so that the connection can carry the next request
            return _answer(start_response, *_error(*refused, status="403 Forbidden"))
        if method == "POST" and "uploads" in query:
            return self._create(environ, start_response)
        if method == "PUT" and "HTTP_X_AMZ_COPY_SOURCE" not in environ:
            return self._put(environ, start_response, upload_id, query)
        if method == "GET" and upload_id:
            return self._list_parts(environ, start_response, upload_id)
        if method == "POST" and upload_id:
            return self._complete(environ, start_response, upload_id)
        if method == "DELETE" and upload_id:
            self._forget(upload_id)
        return self.app(environ, start_response)

    # -- requests ----------------------------------------------------------------------------------

    def _put(self, environ: Environ, start_response: StartResponse, upload_id: str,
             query: dict[str, list[str]]) -> Iterable[bytes]:
        body = _read_body(environ)
        if (md5 := environ.get("HTTP_CONTENT_MD5")) and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
            return _answer(start_response, *_error("BadDigest", "The Content-MD5 you specified did not match what "
                                                                "we received."))
        crc = crc32_b64(body)
        if (sent := environ.get("HTTP_X_AMZ_CHECKSUM_CRC32")) and sent != crc:
            return _answer(start_response, *_error("BadDigest", "The CRC32 you specified did not match the "
                                                                "calculated checksum."))
        part = int(query.get("partNumber", ["0"])[0] or 0)
        status, headers, out = _call(self.app, environ)
        if status.startswith("200") and upload_id and part:
            with self._lock:
                self._parts[(upload_id, part)] = (crc, len(body))
            headers = [(k, v) for k, v in headers if k.lower() != "x-amz-checksum-crc32"]
            headers.append(("x-amz-checksum-crc32", crc))
            if self.opaque_etags:
                headers = [(k, self._hide(v) if k.lower() == "etag" else v) for k, v in headers]
        return _answer(start_response, status, headers, out)

    def _list_parts(self, environ: Environ, start_response: StartResponse, upload_id: str) -> Iterable[bytes]:
        status, headers, out = _call(self.app, environ)
        if not status.startswith("200") or b"<ListParts" not in out:
            return _answer(start_response, status, headers, out)
        text = out.decode()

        def with_checksum(match: re.Match[str]) -> str:
            part = match.group(0)
            number = int(re.search(r"<PartNumber>(\d+)</PartNumber>", part).group(1))  # type: ignore[union-attr]
            with self._lock:
                crc = self._parts.get((upload_id, number), ("", 0))[0]
            if self.opaque_etags:
                part = re.sub(r"<ETag>(.*?)</ETag>", lambda m: f"<ETag>{self._hide(_unescape(m.group(1)))}</ETag>",
                              part)
            return part.replace("</Part>", f"<ChecksumCRC32>{crc}</ChecksumCRC32></Part>") if crc else part

        out = re.sub(r"<Part>.*?</Part>", with_checksum, text, flags=re.S).encode()
        return _answer(start_response, status, _with_length(headers, out), out)

    def _create(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        status, headers, out = _call(self.app, environ)
        found = re.search(rb"<UploadId>([^<]+)</UploadId>", out)
        if status.startswith("200") and found and (algorithm := environ.get("HTTP_X_AMZ_CHECKSUM_ALGORITHM")):
            with self._lock:
                self._algorithms[found.group(1).decode()] = algorithm.upper()
        return _answer(start_response, status, headers, out)

    def _complete(self, environ: Environ, start_response: StartResponse, upload_id: str) -> Iterable[bytes]:
        body = _read_body(environ)
        listed = [_listed_part(part) for part in re.findall(rb"<Part>(.*?)</Part>", body, flags=re.S)]
        numbers = [n for n, _ in listed]
        if refusal := self._refuse_list(environ, upload_id, listed):
            return _answer(start_response, *_error(*refusal))
        if self.opaque_etags:  # the client sends back the ETags it was given: moto checks its own
            body = re.sub(rb"<ETag>(.*?)</ETag>", lambda m: b"<ETag>" + self._reveal(
                _unescape(m.group(1).decode())).encode() + b"</ETag>", body)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
        status, headers, out = _call(self.app, environ)
        if status.startswith("200") and b"<CompleteMultipartUpload" in out:
            with self._lock:
                crcs = [self._parts.get((upload_id, n), ("", 0))[0] for n in numbers]
            text = out.decode()
            if all(crcs):
                checksum = composite_crc32(crcs)
                text = re.sub(r"(</CompleteMultipartUpload\w*>)\s*$", f"<ChecksumCRC32>{checksum}</ChecksumCRC32>"
                              r"<ChecksumType>COMPOSITE</ChecksumType>\1", text)
            if self.opaque_etags:
                text = re.sub(r"<ETag>(.*?)</ETag>", lambda m: f'<ETag>"{secrets.token_hex(16)}-{len(numbers)}"</ETag>',
                              text)
            out = text.encode()
            self._forget(upload_id)
        return _answer(start_response, status, _with_length(headers, out), out)

    def _refuse_list(self, environ: Environ, upload_id: str, listed: list[tuple[int, str | None]]
                     ) -> tuple[str, str] | None:
        """(code, message) S3 answers a part list with before assembling anything, or None. Parts the server
        does not hold are left to moto (InvalidPart)."""
        with self._lock:
            algorithm = self._algorithms.get(upload_id)
            stored = {n: self._parts[(upload_id, n)] for n, _ in listed if (upload_id, n) in self._parts}
        if algorithm == "CRC32":
            if missing := next((n for n, crc in listed if not crc), None):
                return ("InvalidRequest", "The upload was created using a crc32 checksum. The complete request must "
                                          f"include the checksum for each part. It was missing for part {missing} in "
                                          "the request.")
            if wrong := next((n for n, crc in listed if n in stored and crc != stored[n][0]), None):
                return "InvalidPart", f"The CRC32 listed for part {wrong} is not the checksum of the part stored."
        expected = environ.get("HTTP_X_AMZ_MP_OBJECT_SIZE")
        if expected and len(stored) == len(listed) and (size := sum(s for _, s in stored.values())) != int(expected):
            return "InvalidRequest", f"The parts add up to {size} bytes, not the {expected} of x-amz-mp-object-size."
        return None

    # -- state ---------------------------------------------------------------------------------------

    def _hide(self, etag: str) -> str:
        """An ETag that is not the MD5 of anything the client sent (what SSE-KMS objects get)."""
        opaque = f'"{hashlib.sha256(b"kms" + etag.encode()).hexdigest()[:32]}"'
        with self._lock:
            self._opaque[opaque] = etag
        return opaque

    def _reveal(self, etag: str) -> str:
        with self._lock:
            return self._opaque.get(etag, etag)

    def _forget(self, upload_id: str) -> None:
        with self._lock:
            for key in [k for k in self._parts if k[0] == upload_id]:
                del self._parts[key]
            self._algorithms.pop(upload_id, None)


def _listed_part(xml: bytes) -> tuple[int, str | None]:
    """(part number, its ChecksumCRC32 or None) of one <Part> of a CompleteMultipartUpload body."""
    number = re.search(rb"<PartNumber>\s*(\d+)\s*</PartNumber>", xml)
    crc = re.search(rb"<ChecksumCRC32>\s*([^<\s]+)\s*</ChecksumCRC32>", xml)
    return (int(number.group(1)) if number else 0), (crc.group(1).decode() if crc else None)


def _unescape(text: str) -> str:
    return text.replace("&quot;", '"').replace("&amp;", "&")


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _call(app: WSGIApp, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = status, list(headers)
        return lambda _data: None

    chunks = app(environ, start)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return captured["status"], captured["headers"], body


def _with_length(headers: list[tuple[str, str]], body: bytes) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]


def _answer(start_response: StartResponse, status: str, headers: list[tuple[str, str]], body: bytes
            ) -> Iterable[bytes]:
    start_response(status, headers)
    return [body]


class Server:
    """moto's S3 server behind S3Fidelity, on a loopback port, in a daemon thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        secrets = {EMBEDDED_CREDENTIALS["aws_access_key_id"]: EMBEDDED_CREDENTIALS["aws_secret_access_key"]}
        self.app = S3Fidelity(DomainDispatcherApplication(create_backend_app), secrets)
        self._server = make_server(host, port, self.app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="embedded-s3")

    def start(self) -> Server:
        self._thread.start()
        return self

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


if __name__ == "__main__":  # `python -m course_lib.backends.s3_fidelity PORT`: the server in its own process
    import sys

    server = Server(port=int(sys.argv[1]))
    server._thread.run()
