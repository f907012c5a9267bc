"""Checksums of a multipart upload: each part's MD5 and CRC32, and the object's multipart ETag.

S3's ETag of a multipart object is not the MD5 of the object: it is the MD5 of the concatenated
binary MD5s of the parts, followed by "-" and the number of parts. Computing it locally and
comparing it with the server's proves that the server assembled exactly the parts we sent, in order.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass


def md5_digest(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def content_md5(digest: bytes) -> str:
    """The Content-MD5 header value: base64 of the binary digest. S3 rejects a body that does not match."""
    return base64.b64encode(digest).decode()


def crc32_checksum(data: bytes) -> str:
    """The x-amz-checksum-crc32 value: base64 of the big-endian CRC32. Sent with every part of an upload
    created with ChecksumAlgorithm=CRC32, S3 checks it per part and combines the parts' CRCs at complete
    instead of reading the whole object again (its default when no algorithm is chosen: a full-object
    CRC64NVME, a second pass over every byte)."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def part_etag(digest: bytes) -> str:
    """The ETag S3 answers for an uploaded part: the hex MD5 in double quotes."""
    return f'"{digest.hex()}"'


def multipart_etag(digests: Iterable[bytes]) -> str:
    """The ETag of the completed object: md5(concatenated part digests) + "-N", in quotes."""
    digests = list(digests)
    return f'"{hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"'


@dataclass(frozen=True)
class Checksums:
    """What a presigned part URL is bound to: the part's binary MD5 and its base64 CRC32."""

    md5: bytes
    crc32: str

    @classmethod
    def of(cls, data: bytes, md5: bytes | None = None) -> Checksums:
        return cls(md5 or md5_digest(data), crc32_checksum(data))

    def as_json(self) -> dict[str, str]:
        """The body of one part in POST /api/uploads/{id}/sign."""
        return {"content_md5": content_md5(self.md5), "crc32": self.crc32}
