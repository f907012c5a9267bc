"""Planning a multipart upload within S3's limits: part size, part count, byte ranges.

S3's rules (the same for MinIO and, mostly, for moto): every part but the last is at least 5 MiB,
at most 5 GiB; at most 10,000 parts; so an object is at most 10,000 x 5 GiB = 48.8 TiB (AWS's documented
maximum since it raised it from 5 TiB). The part size is a choice only for small files: a 100 GB file
needs parts of at least 10 MiB to fit in 10,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MiB = 1024 * 1024
GiB = 1024 * MiB
TiB = 1024 * GiB
MIN_PART = 5 * MiB
MAX_PART = 5 * GiB
MAX_PARTS = 10_000
MAX_OBJECT = MAX_PARTS * MAX_PART  # 48.8 TiB
# 8 MiB: boto3's TransferManager default too; big enough that per-request overhead is small, small
# enough that a retried part costs little and a laptop can keep several in flight.
DEFAULT_PART = 8 * MiB


class PlanError(ValueError):
    """A size or part size S3 would refuse; the message says which rule and what to do."""


@dataclass(frozen=True)
class Part:
    number: int  # 1-based, as S3 numbers them
    offset: int
    length: int


@dataclass(frozen=True)
class PartPlan:
    size: int
    part_size: int

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.size / self.part_size))

    def parts(self) -> list[Part]:
        return [Part(n + 1, n * self.part_size, min(self.part_size, self.size - n * self.part_size))
                for n in range(self.count)]

    def lengths(self) -> dict[int, int]:
        """Part number -> its length in bytes."""
        return {p.number: p.length for p in self.parts()}


def plan(size: int, part_size: int | None = None) -> PartPlan:
    """The part size for `size` bytes: `part_size` if given and legal, else the default or the smallest
    whole MiB that keeps the count within 10,000."""
    if size <= 0:
        raise PlanError(f"size must be positive, got {size}")
    if size > MAX_OBJECT:
        raise PlanError(f"{size / TiB:.2f} TiB is over S3's {MAX_OBJECT / TiB:.1f} TiB object limit (10,000 parts of "
                        "5 GiB); split the data into several objects")
    smallest = max(MIN_PART, math.ceil(math.ceil(size / MAX_PARTS) / MiB) * MiB)
    if part_size is None:
        return PartPlan(size, max(DEFAULT_PART, smallest))
    if part_size < MIN_PART and size > part_size:
        raise PlanError(f"part size {part_size} bytes is under S3's 5 MiB minimum (only the last part may be "
                        "smaller); use at least 5 MiB")
    if part_size > MAX_PART:
        raise PlanError(f"part size {part_size / GiB:.1f} GiB is over S3's 5 GiB maximum")
    if math.ceil(size / part_size) > MAX_PARTS:
        raise PlanError(f"{size} bytes in parts of {part_size} would need {math.ceil(size / part_size):,} parts; "
                        f"S3 allows 10,000: use parts of at least {smallest // MiB} MiB")
    return PartPlan(size, part_size)
