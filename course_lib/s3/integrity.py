"""Checksums of a multipart upload: how the client proves the server holds exactly its bytes.

The integrity path is CRC32 (what S3 and its SDKs now use by default). Each part's CRC32 is signed
into its URL as x-amz-checksum-crc32: S3 refuses a body that does not match (400 BadDigest) and
answers the CRC of what it stored. At complete, S3 reports the object's *composite* checksum,
base64(CRC32 of the parts' binary CRC32s) + "-N", which the client computes from its own CRCs: equal
means the object is our parts, in our order. None of this involves the ETag.

The legacy path is Content-MD5 and the ETag rule: a part's ETag is the hex MD5 of its bytes and the
object's is md5(concatenated part MD5s) + "-N". AWS documents that this holds only for objects with
no or SSE-S3 encryption: under SSE-KMS or SSE-C the ETag is not an MD5 digest, and a client that
treats it as one sees every part as corrupted. The lesson keeps this path to show exactly that.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from course_lib.backends.s3_fidelity import composite_crc32, crc32_b64

Integrity = Literal["crc32", "md5"]


def md5_digest(data: bytes | memoryview) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def content_md5(digest: bytes) -> str:
    """The Content-MD5 header value: base64 of the binary digest. S3 rejects a body that does not match."""
    return base64.b64encode(digest).decode()


# The x-amz-checksum-crc32 value: base64 of the big-endian CRC32 (the same function the embedded server
# checks bodies with). Sent with every part of an upload created with ChecksumAlgorithm=CRC32, S3 checks
# it per part and combines the parts' CRCs at complete instead of reading the whole object again (its
# default when no algorithm is chosen: a full-object CRC64NVME, a second pass over every byte).
crc32_checksum = crc32_b64


def part_etag(digest: bytes) -> str:
    """The ETag S3 answers for an uploaded part *when the ETag is an MD5* (no or SSE-S3 encryption)."""
    return f'"{digest.hex()}"'


def multipart_etag(digests: Iterable[bytes]) -> str:
    """The ETag of the completed object under the same condition: md5(concatenated part digests) + "-N"."""
    digests = list(digests)
    return f'"{hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"'


@dataclass(frozen=True)
class Checksums:
    """What a presigned part URL is bound to: the part's base64 CRC32, and its binary MD5 on the legacy path."""

    crc32: str
    md5: bytes | None = None

    @classmethod
    def of(cls, data: bytes | memoryview, integrity: Integrity = "crc32") -> Checksums:
        return cls(crc32_checksum(data), md5_digest(data) if integrity == "md5" else None)

    def as_json(self) -> dict[str, str]:
        """The body of one part in POST /api/uploads/{id}/sign."""
        return {"crc32": self.crc32, **({"content_md5": content_md5(self.md5)} if self.md5 else {})}

    def held_by(self, stored: dict[str, Any]) -> bool:
        """True when a part the server lists (ListParts: "etag", "crc32") is these bytes: by its CRC32 when
        the server reports one, else by the ETag on the legacy path; otherwise we cannot tell, so no."""
        if stored.get("crc32"):
            return bool(stored["crc32"] == self.crc32)
        return self.md5 is not None and stored.get("etag") == part_etag(self.md5)

    def stored_as_sent(self, response_headers: Any, integrity: Integrity) -> str | None:
        """None when the part PUT's answer shows the server stored these bytes, else what differs."""
        if integrity == "md5":
            etag = response_headers.get("etag", "")
            return None if self.md5 and etag == part_etag(self.md5) else \
                f"server ETag {etag} != local MD5 {self.md5.hex() if self.md5 else '?'} (corrupted?)"
        crc = response_headers.get("x-amz-checksum-crc32")
        return None if crc in (None, self.crc32) else f"server CRC32 {crc} != local {self.crc32} (corrupted)"


def object_checksum(parts: Iterable[Checksums]) -> str:
    """The composite CRC32 S3 reports for the completed object, from the parts' CRCs in part order."""
    return composite_crc32([p.crc32 for p in parts])
