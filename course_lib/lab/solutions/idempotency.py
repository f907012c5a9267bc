"""Reference solutions to notebook 01's exercises: the store's own decision function, the claim statement,
and dropping the guard."""

from __future__ import annotations

from course_lib.idempotency.store import decide_claim

__all__ = ["claim_sql", "decide_claim", "drop_guard"]


def claim_sql(dialect: str) -> str:
    """One statement: insert the claim, or do nothing when the unique (scope, idem_key) already holds one."""
    insert = "INSERT IGNORE" if dialect == "mysql" else "INSERT OR IGNORE"
    return f"{insert} INTO exercise_claims (scope, idem_key, holder) VALUES (:scope, :key, :holder)"


def drop_guard(dialect: str) -> str:
    """Remove the unique index. SQLite cannot drop a table's own UNIQUE constraint: rebuild the table bare."""
    if dialect == "mysql":
        return "ALTER TABLE exercise_claims DROP INDEX uq_exercise_claim"
    return ("DROP TABLE exercise_claims; CREATE TABLE exercise_claims (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "scope VARCHAR(64) NOT NULL, idem_key VARCHAR(255) NOT NULL, holder VARCHAR(64) NOT NULL)")
