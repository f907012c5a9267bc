"""The tables behind API tokens, shaped like Laravel Sanctum's `users` and `personal_access_tokens`.

Only the sha256 of a token's secret is stored (`token_hash`, unique), never the token itself: a
leaked backup or a curious operator's `SELECT *` yields nothing that can call the API. Revoking a
token deletes its row, as Sanctum does, so a revoked token is indistinguishable from a made-up one.
"""

from __future__ import annotations

import sqlalchemy as sa

from course_lib.backends.columns import Id, Timestamp

metadata = sa.MetaData()

users = sa.Table(
    "users", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(191), nullable=False, unique=True),  # 191: utf8mb4 index limit on old MySQL
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),  # scrypt, see passwords.py
    sa.Column("role", sa.String(16), nullable=False, server_default="learner"),  # learner | instructor
    sa.Column("created_at", Timestamp, nullable=False),
)

personal_access_tokens = sa.Table(
    "personal_access_tokens", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(120), nullable=False),  # what the user called it: "web", "ci", "phone"
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the secret part
    sa.Column("abilities", sa.Text, nullable=False),  # JSON list, e.g. ["orders:create", "orders:read"]
    sa.Column("last_used_at", Timestamp),
    sa.Column("expires_at", Timestamp),  # NULL: never expires (Sanctum's default; we default to 30 days)
    sa.Column("created_at", Timestamp, nullable=False),
)
