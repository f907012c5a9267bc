"""Hashing and signing ahead of the PUTs, so that neither sits on a part's critical path.

A part cannot be signed before its checksums are known (its URL is bound to them), and it cannot be
sent before it is signed. Done inline, every part paid read + checksums + one API round trip before
its first byte left: 32 sign requests for a 256 MiB file, each slowed by the CPU the hashing and the
server were using. So:

- a pool as wide as the window (the PUTs in flight) hashes parts up to `lookahead` ahead of the part
  being sent; hashlib and zlib release the GIL, so they hash in parallel. The pool keeps only the
  checksums: the PUT reads the bytes again (from the page cache, into a reused buffer: `buffers.py`),
  so memory stays at the parts in flight;
- a worker that needs a URL signs, in one API call, every open part up to the end of its window (waiting
  for their hashes, which run beside its own) plus any later part already hashed: a group commit, the
  workers waiting on the lock then find their URLs ready. 32 parts in windows of 8: 3-5 sign requests.
  A part is signed once; a URL that expired before it was taken (a very slow link) is signed again.

What it saves and what it does not is measured in docs/benchmarks.md ("Sign ahead").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from course_lib.s3.integrity import Checksums
from course_lib.s3.plan import Part

Signer = Callable[[dict[int, Checksums]], list[dict]]
Hasher = Callable[[Part], Checksums]


class SignAhead:
    """Checksums and presigned URLs for `parts`, produced ahead of the worker that sends each part.

    `skip` maps part numbers to what the server already holds (a resumed upload: ListParts' "etag" and
    "crc32"): such a part, once hashed and found identical, is never signed.
    """

    def __init__(self, parts: list[Part], hash_part: Hasher, sign: Signer, window: int, lookahead: int,
                 skip: dict[int, dict] | None = None, url_expired: Callable[[str], bool] = lambda url: False) -> None:
        self._parts, self._hash, self._sign = parts, hash_part, sign
        self._index = {p.number: i for i, p in enumerate(parts)}
        self._window, self._lookahead = max(1, window), max(1, window, lookahead)
        self._skip, self._expired = skip or {}, url_expired
        self._pool = ThreadPoolExecutor(self._window, thread_name_prefix="hash")
        self._hashes: dict[int, Future[Checksums]] = {}
        self._urls: dict[int, dict] = {}  # signed, not yet taken
        self._settled: set[int] = set()  # signed, or held by the server already
        self._open_from = 0  # parts[:_open_from] are all settled
        self._submitted = 0  # parts[:_submitted] have been handed to the hashing pool
        self._hash_lock, self._sign_lock = threading.Lock(), threading.Lock()
        self.sign_calls = 0

    def prefetch(self) -> None:
        """Start hashing the first window now (while, say, the upload is still being created)."""
        self._submit_upto(self._window)

    def checksums(self, number: int) -> Checksums:
        """This part's checksums (waiting for its hash if need be); starts hashing the parts after it."""
        self._submit_upto(self._index[number] + 1 + self._lookahead)
        return self._hashes[number].result()

    def _submit_upto(self, end: int) -> None:
        with self._hash_lock:
            upto = min(len(self._parts), end)
            for part in self._parts[self._submitted:upto]:
                self._hashes[part.number] = self._pool.submit(self._hash, part)
            self._submitted = max(self._submitted, upto)

    def needed(self, number: int) -> bool:
        """False when the server already holds exactly these bytes for this part (resume)."""
        return not self._held(number, self.checksums(number))

    def _held(self, number: int, checksums: Checksums) -> bool:
        return number in self._skip and checksums.held_by(self._skip[number])

    def url(self, number: int) -> dict:
        """A presigned URL for this part: one signed ahead, or a fresh batch of every part not yet settled
        from the first such part to the end of this part's window (waiting for their hashes, which run in
        parallel with its own) and any later part already hashed. Earlier open parts belong to workers
        still on their way to the lock: taking them too keeps the first wave to one request whichever
        worker comes first. A part is signed once, and never when the server already holds it."""
        self.checksums(number)
        with self._sign_lock:
            signed = self._urls.pop(number, None)
            if signed is not None and not self._expired(signed["url"]):
                return signed
            batch, window_end = {}, self._index[number] + self._window
            for i in range(min(self._first_open(), self._index[number]), self._submitted):
                part, future = self._parts[i], self._hashes[self._parts[i].number]
                if part.number != number and (part.number in self._settled or (i >= window_end and not future.done())):
                    continue
                if part.number != number and self._held(part.number, future.result()):
                    self._settled.add(part.number)  # the server holds it: never signed
                    continue
                batch[part.number] = future.result()
            self.sign_calls += 1
            self._settled.update(batch)
            for fresh in self._sign(batch):
                self._urls[fresh["number"]] = fresh
            return self._urls.pop(number)

    def _first_open(self) -> int:
        """Index of the first part neither signed nor held by the server (every earlier one is settled)."""
        while self._open_from < self._submitted and self._parts[self._open_from].number in self._settled:
            self._open_from += 1
        return self._open_from

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
