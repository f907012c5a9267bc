"""Reading parts into buffers the uploader keeps, instead of a fresh `bytes` per read.

Each part is read twice: once by the hashing pool (its checksums are signed into its URL before it
is sent), once by the worker that PUTs it, so the memory stays at the parts in flight. Read into new
`bytes`, a 256 MiB upload allocated 512 MiB; glibc hands buffers that size back to the kernel when
they are freed, and the next read faults their pages in again. On a VM that returns freed memory
to its host, each of those faults can wait for the host: `course bench s3` counted 30,000-45,000
page faults in the uploader's process per 256 MiB upload, against about 50 for boto3's
TransferManager. Buffers taken from this pool are touched once and reused by every later part and
upload; a source already in memory is sliced, never copied.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from course_lib.s3.plan import Part

Source = bytes | bytearray | memoryview | Path


class SourceChanged(Exception):
    """The source is shorter than the upload's plan: it changed after the upload began."""


class PartBuffers:
    """Buffers of at least one part's size, lent out one part at a time. At most as many exist as
    parts were ever read at once (the PUTs in flight plus the parts being hashed); `clear` drops them."""

    def __init__(self) -> None:
        self._free: list[bytearray] = []
        self._lock = threading.Lock()
        self.allocated = 0  # buffers ever made: stays put once uploads run in steady state

    @contextmanager
    def read(self, source: Source, part: Part) -> Iterator[memoryview]:
        """The part's bytes, valid until the `with` block ends."""
        if not isinstance(source, Path):
            yield memoryview(source)[part.offset:part.offset + part.length]
            return
        buffer = self._take(part.length)
        try:
            view = memoryview(buffer)[:part.length]
            with open(source, "rb") as f:
                f.seek(part.offset)
                got = f.readinto(view)
            if got != part.length:
                raise SourceChanged(f"{source} ends {part.length - got} bytes before part {part.number} does: the "
                                    "file changed during the upload; upload it again once nothing is writing to it")
            yield view
        finally:
            with self._lock:
                self._free.append(buffer)

    def _take(self, size: int) -> bytearray:
        with self._lock:
            while self._free:
                buffer = self._free.pop()
                if len(buffer) >= size:
                    return buffer  # a smaller one (an earlier upload's part size) is dropped
            self.allocated += 1
        return bytearray(size)

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
