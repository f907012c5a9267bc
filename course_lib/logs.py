"""Structured JSON logs for every module, with secrets redacted before a line is written.

One JSON object per line (structlog) so the notebooks can show logs as a table and tests can
assert on fields. Redaction happens in the processor chain, so no caller can forget it: any key
that names a credential (token, password, authorization, secret, api key, cookie) is replaced by
"[redacted]", at any depth.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
SECRET_KEY = re.compile(r"token|password|passwd|secret|authorization|api[_-]?key|cookie", re.IGNORECASE)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_KEY.search(str(k)) else _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def redact_secrets(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: blank out every value whose key names a credential."""
    return _scrub(dict(event))


_stream: TextIO | None = None  # where lines go now (None: stderr); capture() restores it
_generation = 0  # bumped by configure(): a logger bound under an older configuration binds again


def configure(stream: TextIO | None = None) -> None:
    """Send JSON log lines to `stream` (stderr by default). Safe to call more than once."""
    global _stream, _generation
    _stream = stream
    _generation += 1
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


class _LazyLogger:
    """Binds its context again after each `configure()` (and so `capture()`): a logger made at import time
    follows the configuration, while one bound once keeps the configuration it was bound under. Binding
    at every call instead cost the API a few per cent of its CPU."""

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context
        self._bound: tuple[int, Any] | None = None

    def __getattr__(self, method: str) -> Any:
        bound = self._bound
        if bound is None or bound[0] != _generation:
            bound = self._bound = (_generation, structlog.get_logger().bind(**self._context))
        return getattr(bound[1], method)


def get_logger(name: str, **context: Any) -> Any:
    """A logger whose every line carries `logger=name` and the given context: `.info("event", k=v)`."""
    return _LazyLogger({"logger": name, **context})


def discard() -> None:
    """Write log lines nowhere (a notebook running the API in its kernel; `capture()` still works)."""
    configure(io.StringIO())  # a buffer nobody reads: cheap, and no file handle to leak


@contextmanager
def capture() -> Iterator[list[dict[str, Any]]]:
    """Collect the log lines written inside the block, parsed, for a table or an assertion.

    The list fills when the block exits; logging then goes back to where it went before.
    """
    buffer = io.StringIO()
    lines: list[dict[str, Any]] = []
    previous = _stream
    configure(buffer)
    try:
        yield lines
    finally:
        configure(previous)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines() if line.strip())


configure()
