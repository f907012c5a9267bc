"""Hashing and signing ahead of the PUTs, so that neither sits on a part's critical path.

A part cannot be signed before its checksums are known (its URL is bound to them), and it cannot be
sent before it is signed. Done inline, every part paid read + MD5 + CRC32 + one API round trip before
its first byte left: 32 sign requests for a 256 MiB file, each slowed by the CPU the hashing and the
server were using. So:

- a pool as wide as the window (the PUTs in flight) hashes parts up to `lookahead` ahead of the part
  being sent; hashlib and zlib release the GIL, so they hash in parallel. With only two hashing threads
  the hashing fell behind the PUTs on 2 cores and most parts were signed alone. The pool keeps only the
  checksums: the PUT reads the bytes again (from the page cache), so memory stays at the parts in flight;
- a worker that needs a URL signs, in one API call, its part and the rest of its window (waiting for
  their hashes, which run beside its own) plus any later part already hashed: a group commit, the
  workers waiting on the lock then find their URLs ready. 32 parts in windows of 8: 3-5 sign requests.
  A part is signed once; a URL that expired before it was taken (a very slow link) is signed again.

Measured on 2 cores against moto (`course bench s3`): ordering, window size and pool width (2, 4 or 8)
moved the 64 MiB ratio within the run-to-run noise (0.82-0.88); what stays is the CPU each part's MD5
costs, which TransferManager does not pay.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .integrity import Checksums, part_etag
from .plan import Part

Signer = Callable[[dict[int, Checksums]], list[dict]]
Reader = Callable[[Part], bytes]


class SignAhead:
    """Checksums and presigned URLs for `parts`, produced ahead of the worker that sends each part.

    `skip` maps part numbers to the ETag the server already holds (a resumed upload): such a part,
    once hashed and found identical, is never signed.
    """

    def __init__(self, parts: list[Part], read: Reader, sign: Signer, window: int, lookahead: int,
                 skip: dict[int, str] | None = None, url_expired: Callable[[str], bool] = lambda url: False) -> None:
        self._parts, self._read, self._sign = parts, read, sign
        self._index = {p.number: i for i, p in enumerate(parts)}
        self._window, self._lookahead = max(1, window), max(1, window, lookahead)
        self._skip, self._expired = skip or {}, url_expired
        self._pool = ThreadPoolExecutor(self._window, thread_name_prefix="hash")
        self._hashes: dict[int, Future[Checksums]] = {}
        self._urls: dict[int, dict] = {}  # signed, not yet taken
        self._signed: set[int] = set()
        self._submitted = 0  # parts[:_submitted] have been handed to the hashing pool
        self._hash_lock, self._sign_lock = threading.Lock(), threading.Lock()
        self.sign_calls = 0

    def checksums(self, number: int) -> Checksums:
        """This part's checksums (waiting for its hash if need be); starts hashing the parts after it."""
        with self._hash_lock:
            upto = min(len(self._parts), self._index[number] + 1 + self._lookahead)
            for part in self._parts[self._submitted:upto]:
                self._hashes[part.number] = self._pool.submit(lambda p=part: Checksums.of(self._read(p)))
            self._submitted = max(self._submitted, upto)
        return self._hashes[number].result()

    def needed(self, number: int) -> bool:
        """False when the server already holds exactly these bytes for this part (resume)."""
        return self._skip.get(number) != part_etag(self.checksums(number).md5)

    def url(self, number: int) -> dict:
        """A presigned URL for this part: one signed ahead, or a fresh batch of this part, the parts in
        its window (waiting for their hashes, which run in parallel with its own) and any later part
        already hashed; never a part signed before, nor one the server already holds."""
        self.checksums(number)
        with self._sign_lock:
            signed = self._urls.pop(number, None)
            if signed is not None and not self._expired(signed["url"]):
                return signed
            batch = {}
            for i, part in enumerate(self._parts[self._index[number]:self._submitted]):
                future = self._hashes[part.number]
                if part.number != number and (part.number in self._signed or i >= self._window and not future.done()):
                    continue
                if part.number == number or self._skip.get(part.number) != part_etag(future.result().md5):
                    batch[part.number] = future.result()
            self.sign_calls += 1
            self._signed.update(batch)
            for fresh in self._sign(batch):
                self._urls[fresh["number"]] = fresh
            return self._urls.pop(number)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
