"""Reference solutions for notebook 05: the planner's part size, the completion list, the parts to resend."""

from __future__ import annotations

from course_lib.s3.plan import plan


def part_size(size: int) -> int:
    return plan(size).part_size


def completion_parts(answers: list[dict]) -> list[dict]:
    last = {p["PartNumber"]: p["ETag"] for p in answers}  # a later upload of a part replaces the earlier one
    return [{"PartNumber": n, "ETag": last[n]} for n in sorted(last)]


def parts_to_resume(local: dict[int, str], listed: list[dict]) -> list[int]:
    held = {p["PartNumber"]: p.get("ChecksumCRC32") for p in listed}
    return sorted(n for n, crc in local.items() if held.get(n) != crc)
