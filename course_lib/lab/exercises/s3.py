"""Exercise for notebook 05: choosing a part size S3 will accept, for any file size."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from course_lib.lab.exercises import exercise
from course_lib.s3.plan import MAX_PART, MAX_PARTS, MIN_PART, GiB, MiB, TiB

PartSize = Callable[[int], int]

SIZES = [1, 4 * MiB, 5 * MiB + 1, 64 * MiB, 1000**3, 50 * GiB, 100 * 1000**3, 1 * TiB, 5 * 1000**4, 5 * TiB,
         MAX_PARTS * MAX_PART]  # up to S3's largest object


@exercise("part_size",
          concept="S3 allows at most 10,000 parts of 5 MiB to 5 GiB each: the part size must make the whole file "
                  "fit in 10,000 parts without going under the minimum",
          outline="start from 8 MiB; if size / 8 MiB needs more than 10,000 parts, use "
          "ceil(size / 10,000) rounded up to a whole MiB; never under 5 MiB")
def check_part_size(choose: PartSize) -> Iterator[tuple[str, bool]]:
    for size in SIZES:
        part = choose(size)
        count = math.ceil(size / part) if part else 0
        legal = isinstance(part, int) and MIN_PART <= part <= MAX_PART and 1 <= count <= MAX_PARTS
        yield f"{size:,} bytes -> parts of {part:,} bytes, {count:,} parts: within S3's limits", legal
        if size >= 64 * MiB:
            # not wastefully large: a retried part should not cost more than it must
            yield f"{size:,} bytes: part no bigger than needed (at most max(16 MiB, 2x the minimum))", \
                part <= max(16 * MiB, 2 * math.ceil(size / MAX_PARTS))
