"""Query plans made readable, and query timings that survive a noisy laptop.

`explain()` runs EXPLAIN (MySQL/MariaDB) or EXPLAIN QUERY PLAN (SQLite) and answers the questions a
reviewer asks of a plan: which index, a full scan or not, a filesort or not, and whether the query
is answered from the index alone ("Using index" / "COVERING INDEX"). `analyze()` adds the executed
plan where the server has one (MariaDB's ANALYZE FORMAT=JSON, MySQL 8's EXPLAIN ANALYZE).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from course_lib.backends.sql_backend import explain as explain_rows


@dataclass(frozen=True)
class Plan:
    sql: str
    dialect: str
    rows: list[dict[str, Any]]

    def _mysql(self, column: str) -> list[str]:
        return [str(r.get(column) or "") for r in self.rows]

    @property
    def _sqlite_details(self) -> list[str]:
        return [str(r.get("detail", "")) for r in self.rows]

    @property
    def index(self) -> str | None:
        """The index the first table access uses, if any."""
        if self.dialect == "sqlite":
            found = next((m for d in self._sqlite_details if (m := re.search(r"INDEX (\w+)", d))), None)
            return found.group(1) if found else None
        return next((k for k in self._mysql("key") if k), None)

    @property
    def index_only(self) -> bool:
        """Answered from the index alone, never touching the table's rows (a covering index)."""
        if self.dialect == "sqlite":
            return any("COVERING INDEX" in d for d in self._sqlite_details)
        return any(re.search(r"Using index(?! condition)", e) for e in self._mysql("Extra"))

    @property
    def full_scan(self) -> bool:
        """Reads every row (or every index entry) instead of seeking to the ones it needs."""
        if self.dialect == "sqlite":
            return any(d.startswith("SCAN") for d in self._sqlite_details)
        return any(t in ("ALL", "index") for t in self._mysql("type"))

    @property
    def filesort(self) -> bool:
        """Sorts rows after reading them, because no index delivers them in the wanted order."""
        if self.dialect == "sqlite":
            return any("TEMP B-TREE" in d for d in self._sqlite_details)
        return any("filesort" in e for e in self._mysql("Extra"))

    @property
    def estimated_rows(self) -> int | None:
        if self.dialect == "sqlite":
            return None
        return sum(int(r.get("rows") or 0) for r in self.rows)

    def summary(self) -> dict[str, Any]:
        """One row for a before/after table."""
        return {"index": self.index or "-", "full scan": self.full_scan, "filesort": self.filesort,
                "index only": self.index_only, "rows (estimate)": self.estimated_rows}

    def table(self) -> list[dict[str, Any]]:
        """The raw EXPLAIN rows with the columns that matter (for show_table)."""
        if self.dialect == "sqlite":
            return [{"detail": r.get("detail")} for r in self.rows]
        wanted = ("table", "type", "possible_keys", "key", "rows", "Extra")
        return [{k: r.get(k) for k in wanted} for r in self.rows]


def explain(engine: Engine, sql: str, params: Mapping[str, Any] | None = None) -> Plan:
    with engine.connect() as conn:
        return explain_on(conn, sql, params)


def explain_on(conn: Connection, sql: str, params: Mapping[str, Any] | None = None) -> Plan:
    """The plan as this connection sees it: after an ANALYZE on it, say (SQLite's other pooled connections
    may still plan with the statistics they loaded before)."""
    return Plan(sql, conn.dialect.name, explain_rows(conn, sql, params))


def analyze(engine: Engine, sql: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The executed plan's row counts and time, where the server offers them (None on SQLite).

    MariaDB: ANALYZE FORMAT=JSON runs the query and reports, per table, r_rows (rows actually read)
    and pages accessed, and the query's r_total_time_ms (server time, without sending the rows).
    MySQL 8: EXPLAIN ANALYZE returns the executed tree as text.
    """
    if engine.dialect.name == "sqlite":
        return None
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT VERSION()").scalar_one()
        if "MariaDB" in version:
            executed = json.loads(conn.execute(sa.text("ANALYZE FORMAT=JSON " + sql), params or {}).scalar_one())
            tables = _tables(executed)
            return {"rows read": round(sum(t.get("r_rows", 0) * t.get("r_loops", 1) for t in tables)),
                    "pages read": sum(t.get("r_engine_stats", {}).get("pages_accessed", 0) for t in tables),
                    "server time ms": round(executed["query_block"].get("r_total_time_ms", 0), 3)}
        text = "\n".join(r[0] for r in conn.execute(sa.text("EXPLAIN ANALYZE " + sql), params or {}))
        return {"plan": text}


def _tables(node: Any) -> list[dict[str, Any]]:
    """Every "table" object in MariaDB's ANALYZE FORMAT=JSON tree."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "table" in node and isinstance(node["table"], dict):
            found.append(node["table"])
        for value in node.values():
            found += _tables(value)
    elif isinstance(node, list):
        for value in node:
            found += _tables(value)
    return found


def time_query(engine: Engine, sql: str, params: Mapping[str, Any] | None = None, repeat: int = 5) -> float:
    """Median milliseconds of `repeat` runs (after one warm-up run that loads the pages into memory)."""
    statement = sa.text(sql)
    times = []
    with engine.connect() as conn:
        for i in range(repeat + 1):
            start = time.perf_counter()
            conn.execute(statement, params or {}).fetchall()
            if i:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
