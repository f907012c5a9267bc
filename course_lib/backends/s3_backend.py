"""The S3 backend: an S3-compatible HTTP endpoint, or moto's server in-process on a loopback port.

Resolution follows docs/architecture.md ("Backends"): `COURSE_S3_ENDPOINT` (MinIO, AWS, ...); else moto's S3 server in a
background thread of this process. Either way boto3 talks HTTP to a real endpoint, so presigned
URLs, multipart uploads and retries behave as they do against AWS (within moto's fidelity).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from course_lib.backends import settings
from course_lib.backends.errors import BackendUnavailable

REGION = "us-east-1"
# moto accepts any credentials; fixed ones keep presigned URLs reproducible in the lessons.
EMBEDDED_CREDENTIALS = {"aws_access_key_id": "course-lab", "aws_secret_access_key": "course-lab-secret"}
# A connect timeout that fails fast on a wrong endpoint; a read timeout that fits a large part.
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=60, retries={"max_attempts": 2, "mode": "standard"},
                       s3={"addressing_style": "path"})


@dataclass
class S3Backend:
    endpoint: str
    embedded: bool
    server: str
    version: str
    credentials: dict[str, str] = field(repr=False)
    _server: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return settings.mask_url(self.endpoint)

    def new_client(self, **config: Any):
        """A boto3 S3 client for this endpoint; `config` overrides botocore Config fields."""
        cfg = CLIENT_CONFIG.merge(Config(**config)) if config else CLIENT_CONFIG
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, config=cfg, **self.credentials)

    @contextmanager
    def etags_not_md5(self) -> Iterator[None]:
        """Within the block, the embedded server answers ETags that are not MD5 digests, as S3 does for objects
        encrypted with SSE-KMS or SSE-C. On a real endpoint, use a bucket with default SSE-KMS encryption."""
        if self._server is None:
            raise RuntimeError(f"{self.server} is not the embedded server: to see ETags that are not MD5s, upload to "
                               "a bucket whose default encryption is SSE-KMS")
        self._server.app.opaque_etags = True
        try:
            yield
        finally:
            self._server.app.opaque_etags = False

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


def resolve(cfg: settings.Settings | None = None) -> S3Backend:
    """Pick the S3 backend in the order of docs/architecture.md; raise BackendUnavailable if the URL fails."""
    cfg = cfg or settings.current()
    if cfg.s3_endpoint and not cfg.embedded_only:
        return _connect(cfg.s3_endpoint)
    return start_embedded()


def _connect(endpoint: str) -> S3Backend:
    if not endpoint.startswith(("http://", "https://")):
        raise BackendUnavailable(
            "S3", f"{endpoint!r} is not an HTTP endpoint", "use the form http://HOST:9000 (MinIO) or https://...",
            settings.S3_ENDPOINT,
        )
    creds = {
        "aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
    }
    if not all(creds.values()):
        raise BackendUnavailable(
            "S3", f"no credentials for {settings.mask_url(endpoint)}",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (MinIO's default is minioadmin/minioadmin)",
            settings.S3_ENDPOINT,
        )
    backend = S3Backend(endpoint=endpoint, embedded=False, server="S3 endpoint", version="?", credentials=creds)
    try:
        response = backend.new_client().list_buckets()
    except ClientError as exc:
        raise BackendUnavailable(
            "S3", f"{backend.url} refused the request ({exc.response['Error'].get('Code')})",
            "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for that endpoint", settings.S3_ENDPOINT,
        ) from None
    except BotoCoreError as exc:
        raise BackendUnavailable(
            "S3", f"nothing usable answers at {backend.url} ({exc})",
            "start the S3 server (e.g. `minio server /tmp/minio`), fix the URL, or unset the variable to use "
            "the embedded moto server", settings.S3_ENDPOINT,
        ) from None
    server = response["ResponseMetadata"].get("HTTPHeaders", {}).get("server", "S3 endpoint")
    backend.server = server
    return backend


def start_embedded() -> S3Backend:
    """moto's S3 server on a free loopback port in a daemon thread of this process, behind the checks S3
    makes and moto does not (`s3_fidelity`: checksums verified per part, the composite checksum at complete)."""
    import moto

    from course_lib.backends.s3_fidelity import Server  # imports moto's server: paid only when used

    # werkzeug logs every request at INFO; in a notebook that buries the lesson's own output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = Server().start()
    return S3Backend(endpoint=server.endpoint, embedded=True,
                     server="moto server (in-process, with S3's checksum checks)",
                     version=moto.__version__, credentials=dict(EMBEDDED_CREDENTIALS), _server=server)
