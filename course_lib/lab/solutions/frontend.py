"""Reference solution for notebook 08's exercise: put back one title, keep everything else."""

from __future__ import annotations


def rollback_one(data: list[dict], post_id: int, old_title: str) -> list[dict]:
    return [{**p, "title": old_title} if p["id"] == post_id else p for p in data]
