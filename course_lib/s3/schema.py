"""The backend's record of each multipart upload: whose it is, what was planned, where it stands.

S3 knows the upload id and the parts; it does not know which user may touch the upload or what
size was promised. The backend keeps that, so sign/list/complete/abort can refuse another user's
upload and check the parts against the plan before asking S3 to assemble them.
"""

from __future__ import annotations

import sqlalchemy as sa

from course_lib.backends.columns import Id, Timestamp

metadata = sa.MetaData()

uploads = sa.Table(
    "uploads", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("user_id", Id, nullable=False, index=True),
    sa.Column("upload_id", sa.String(255), nullable=False, unique=True),  # S3's UploadId
    sa.Column("object_key", sa.String(512), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("part_size", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | completed | aborted
    sa.Column("etag", sa.String(80)),
    sa.Column("created_at", Timestamp, nullable=False),
)
