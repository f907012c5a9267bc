"""Reference solution for notebook 06's exercise: the lesson's own keyset query."""

from __future__ import annotations

from course_lib.sqlperf.pagination import KEYSET_SQL


def keyset_sql() -> str:
    return KEYSET_SQL
