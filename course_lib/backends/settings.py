"""Backend settings, read from environment variables at the moment they are needed.

Reading late (not at import) lets a notebook or a test change a variable and resolve again, and it
keeps one place that knows every variable's name, so error messages can name it.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DATABASE_URL = "COURSE_DATABASE_URL"
REDIS_URL = "COURSE_REDIS_URL"
S3_ENDPOINT = "COURSE_S3_ENDPOINT"
BACKENDS = "COURSE_BACKENDS"
REQUIRE_SERVICES = "COURSE_REQUIRE_SERVICES"
BUILD_DIR = "COURSE_BUILD_DIR"
# A workshop's learners share one MariaDB, one Redis and one S3: COURSE_LEARNER=<name> makes every database,
# Redis key and bucket a learner touches theirs (docs/architecture.md, "Learners"). Unset: one learner.
LEARNER = "COURSE_LEARNER"
LEARNER_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
LEARNER_RULE = ("a short lowercase name (a letter, then letters, digits or _, at most 32 characters): it becomes "
                "part of database, user and bucket names")

# Standard loopback ports probed in step 2 of the resolution order (docs/architecture.md, "Backends").
MYSQL_DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/course_lab"
MYSQL_DATABASE = "course_lab"
REDIS_DEFAULT_URL = "redis://127.0.0.1:6379/0"

# How long a probe of a standard port may take. Loopback answers in microseconds; 0.5 s only
# matters when something is listening but stuck, and keeps `course doctor` snappy even then.
PROBE_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    redis_url: str | None
    s3_endpoint: str | None
    embedded_only: bool
    require_services: bool
    build_dir: Path
    learner: str | None = None

    @property
    def mysql_default_url(self) -> str:
        """The standard-port MariaDB/MySQL URL: database `course_lab`, or `course_lab_<learner>`."""
        return MYSQL_DEFAULT_URL.rsplit("/", 1)[0] + "/" + database_name(self.learner)

    def bucket(self, name: str) -> str:
        """An S3 bucket name of this learner's: `name`, or `name-<learner>` (S3 names: no underscores)."""
        return f"{name}-{self.learner.replace('_', '-')}" if self.learner else name


def database_name(learner: str | None) -> str:
    return f"{MYSQL_DATABASE}_{learner}" if learner else MYSQL_DATABASE


def learner() -> str | None:
    """COURSE_LEARNER, checked: it becomes part of database and bucket names."""
    name = os.environ.get(LEARNER, "").strip()
    if name and not LEARNER_NAME.fullmatch(name):
        raise ValueError(f"{LEARNER} must be {LEARNER_RULE}, not {name!r}")
    return name or None


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def checkout_root() -> Path | None:
    """The clone's top folder when course_lib is installed editable from one, else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() and (root / "course_lib").is_dir() else None


def _default_build_dir() -> Path:
    """`build/` at the checkout root when running from a clone, else a per-user cache folder."""
    root = checkout_root()
    return root / "build" if root else Path.home() / ".cache" / "backend-reliability-lab"


def current() -> Settings:
    mode = os.environ.get(BACKENDS, "auto").strip().lower()
    if mode not in {"auto", "embedded"}:
        raise ValueError(f"{BACKENDS} must be 'auto' or 'embedded', not {mode!r}")
    who = learner()
    if os.environ.get(BUILD_DIR):
        build = Path(os.environ[BUILD_DIR])
    else:  # a learner's results, benches and SQLite file apart from everyone else's in a shared checkout
        build = _default_build_dir() / "learners" / who if who else _default_build_dir()
    return Settings(
        database_url=os.environ.get(DATABASE_URL) or None,
        redis_url=os.environ.get(REDIS_URL) or None,
        s3_endpoint=os.environ.get(S3_ENDPOINT) or None,
        embedded_only=mode == "embedded",
        require_services=_flag(REQUIRE_SERVICES),
        build_dir=build,
        learner=who,
    )


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print and to log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def port_open(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when something accepts a TCP connection there (a cheap first probe before a driver)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A currently free loopback port for a private server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
