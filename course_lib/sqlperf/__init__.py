"""Query performance on MySQL/MariaDB (and SQLite): plans, indexes, pagination, partitions, locks (notebook 06).

    from course_lib.sqlperf import generate, queries, pagination, partitions, transactions
"""

from __future__ import annotations

from course_lib.sqlperf import generate, pagination, partitions, plans, queries, transactions
from course_lib.sqlperf.plans import Plan, analyze, explain, time_query
from course_lib.sqlperf.schema import add_index, drop_index, reset

__all__ = ["Plan", "add_index", "analyze", "drop_index", "explain", "generate", "pagination", "partitions", "plans",
           "queries", "reset", "time_query", "transactions"]
