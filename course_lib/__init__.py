"""course_lib: the shared helper package of the Backend Reliability Lab.

Notebooks carry the story; this package carries the reusable code. A notebook's setup cell is
usually just:

    import course_lib as cl
    cl.setup()
"""

from __future__ import annotations

from . import backends, race
from .notebook import backend_table, expect_error, needs_mysql, setup, show_source, show_table

__version__ = "0.1.0"
__all__ = ["backends", "race", "setup", "show_source", "show_table", "needs_mysql", "expect_error", "backend_table",
           "__version__"]
