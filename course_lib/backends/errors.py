"""One error type for every backend problem, written for the person who has to fix it.

A learner who mistypes a database URL should read one short paragraph: which variable, what
failed, and the command that fixes it. Not a 60-line driver traceback. `BackendUnavailable`
carries exactly that, and renders without a traceback both in a terminal (`course doctor`) and in
Jupyter (IPython calls `_render_traceback_` when an exception defines it).
"""

from __future__ import annotations


class BackendUnavailable(RuntimeError):
    """A backend the course needs cannot be used; the message says why and how to fix it."""

    def __init__(self, backend: str, what_failed: str, fix: str, variable: str | None = None) -> None:
        self.backend = backend
        self.what_failed = what_failed
        self.fix = fix
        self.variable = variable
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f" (from {self.variable})" if self.variable else ""
        return f"{self.backend}{where}: {self.what_failed}\n  Fix: {self.fix}"

    def _render_traceback_(self) -> list[str]:  # IPython hook: show the message, not the stack
        return [f"BackendUnavailable: {line}" if i == 0 else line for i, line in enumerate(self.message.splitlines())]
