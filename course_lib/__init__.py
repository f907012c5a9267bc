"""course_lib: the shared helper package of the Backend Reliability Lab.

Notebooks carry the story; this package carries the reusable code (docs/architecture.md maps it).
A notebook's setup cell is usually just:

    import course_lib as cl
    cl.setup()
"""

from __future__ import annotations

from course_lib import backends
from course_lib.lab.notebook import backend_table, expect_error, needs_mysql, setup, show_source, show_table

__version__ = "0.1.0"
__all__ = ["__version__", "backend_table", "backends", "expect_error", "needs_mysql", "setup", "show_source",
           "show_table"]
