"""What every notebook's setup cell and story cells lean on.

`setup()` resolves the backends and prints one line each plus one line saying whether the lesson
runs on real services or embedded fallbacks; `show_source()` displays a reference implementation
instead of copying it into a cell; `expect_error()` shows an expected failure while asserting it
happened (nbval cannot check NBVAL_RAISES_EXCEPTION in stripped notebooks).
"""

from __future__ import annotations

import html
import inspect
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_lib import backends
from course_lib.backends import settings
from course_lib.backends.columns import is_mysql
from course_lib.lab.plots import style


def _ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _display(obj: Any) -> None:
    if _ipython() is not None:
        from IPython.display import display

        display(obj)
    else:
        print(obj)


def setup(quiet: bool = False) -> list[backends.BackendStatus]:
    """Resolve SQL, Redis and S3, print what is in use, and raise a readable error if one is missing."""
    ip = _ipython()
    if ip is not None and hasattr(ip, "run_line_magic"):
        ip.run_line_magic("matplotlib", "inline")
    style()
    rows = backends.describe()
    broken = [r for r in rows if not r.ok]
    if broken:  # raise the first real error again: it renders as a short message, no traceback
        {"SQL": backends.sql, "Redis": backends.redis, "S3": backends.s3}[broken[0].backend]()
    if not quiet:
        for r in rows:
            print(f"{r.backend:<6} {r.mode:<12} {r.server} {r.version} at {r.url}")
        print(summary_line(rows))
    return rows


def summary_line(rows: Sequence[backends.BackendStatus]) -> str:
    """One line: are we on real services, embedded fallbacks, or a mix?"""
    modes = {r.mode for r in rows}
    if modes == {"real server"}:
        return "Backends: real services for everything."
    if modes == {"embedded"}:
        return "Backends: embedded fallbacks for everything (nothing installed needed; results are labelled)."
    embedded = ", ".join(r.backend for r in rows if r.mode == "embedded")
    return f"Backends: real services, except embedded {embedded}."


def backend_table(rows: Sequence[backends.BackendStatus] | None = None) -> Any:
    """The live backend table as HTML (what `course doctor` prints in the terminal)."""
    from IPython.display import HTML

    rows = rows if rows is not None else backends.describe()
    head = "".join(f"<th>{h}</th>" for h in ("backend", "in use", "server", "version", "URL", "note"))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (r.backend, r.mode, r.server, r.version, r.url,
                                                                      r.note)) + "</tr>"
        for r in rows
    )
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def course_map(folder: str | Path | None = None) -> list[tuple[str, str, str]]:
    """(file, title, subtitle) for every numbered notebook that exists, in teaching order."""
    import nbformat

    root = settings.checkout_root()
    folder = Path(folder) if folder else (root / "notebooks" if root else Path.cwd())
    entries = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        first = next((c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"), None)
        lines = [ln.strip() for ln in (first.source if first else "").splitlines() if ln.strip()]
        title = lines[0].lstrip("# ") if lines else path.stem
        subtitle = lines[1].strip("*_ ") if len(lines) > 1 and not lines[1].startswith("#") else ""
        entries.append((path.name, title, subtitle))
    return entries


def show_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    """Rows of dicts as a table (HTML in Jupyter, text elsewhere): log lines, statuses, timings."""
    columns = list(columns or (rows[0].keys() if rows else []))
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    if _ipython() is not None:
        from IPython.display import HTML

        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in r) + "</tr>" for r in cells)
        _display(HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"))
        return
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def needs_mysql(engine: Any, what: str) -> bool:
    """True on MySQL/MariaDB; elsewhere print, visibly, that `what` is skipped and why, and return False."""
    if is_mysql(engine):
        return True
    print(f"SKIPPED on the embedded {engine.dialect.name}: this cell ({what}) runs only on MySQL/MariaDB. Start "
          "MariaDB (see README) or set COURSE_DATABASE_URL, then run this notebook again.")
    return False


def show_source(obj: Any) -> None:
    """Display the source of a function or class from course_lib, highlighted."""
    source = inspect.getsource(obj)
    if _ipython() is not None:
        from IPython.display import Code

        _display(Code(source, language="python"))
    else:
        print(source)


@dataclass
class Caught:
    """What `expect_error` caught, for further asserts."""

    error: BaseException | None = None


@contextmanager
def expect_error(
    kind: type[BaseException] | tuple[type[BaseException], ...], match: str | None = None
) -> Iterator[Caught]:
    """Run a block that must fail with `kind` (and a message matching `match`); show the message.

    Fails the cell (AssertionError) if nothing was raised, so a lesson that says "this is
    rejected" stops passing when it stops being rejected.
    """
    caught = Caught()
    try:
        yield caught
    except kind as exc:
        caught.error = exc
        if match is not None and not re.search(match, str(exc)):
            raise AssertionError(
                f"raised {type(exc).__name__} as expected, but {str(exc)!r} does not match {match!r}"
            ) from exc
        print(f"Raised as expected -> {type(exc).__name__}: {exc}")
        return
    names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
    raise AssertionError(f"expected {names}, but the block finished without it")
