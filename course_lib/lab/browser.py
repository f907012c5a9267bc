"""The page of notebook 08 in a real browser, from a notebook cell: Debian's Chromium driven by Playwright.

A cell cannot call Playwright's sync API directly (the kernel runs an asyncio loop), so each session runs
in a worker thread. Without Chromium or Playwright (`available()` is False) a lesson falls back to the Python replay in
`course_lib.ui.protocol`; CI installs Chromium, so there the browser path is the one that runs.
"""

from __future__ import annotations

import importlib.util
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# The flags a sandboxed, offline root needs: without the background-networking ones Chromium keeps
# dialling Google's hosts at start-up.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
# While the refetch after a save is in flight, the screen shows what onError left: the server answers
# every request this much later, which keeps that moment long enough to read.
LATENCY_MS = 800


def available() -> bool:
    """Chromium and the Playwright package (a test tool: `make test` installs it, the learner's `make lab`
    does not, and the lesson then replays the protocol in Python)."""
    return CHROMIUM.exists() and importlib.util.find_spec("playwright") is not None


@dataclass(frozen=True)
class FailedSave:
    """What a user saw when a save answered 500, on one variant of the page."""

    variant: str
    old: str
    optimistic_shown: bool  # the new title was on screen before the server answered
    after_500: str  # the title once the 500 had arrived, before the list was refetched
    after_settle: str  # the title once everything settled (the list refetched)
    message: str | None  # what the page said about the failure, if anything
    screenshot: Path


def failed_save(url: str, controls: Any, variant: str, post_id: int, title: str, shots: Path) -> FailedSave:
    """Open /app/?variant=VARIANT, make the next PUT fail (`controls.fail_puts`), rename post `post_id`, and
    record the title at each moment. Restores the controls' latency and failures afterwards."""
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(_failed_save, url, controls, variant, post_id, title, shots).result()


def _failed_save(url: str, controls: Any, variant: str, post_id: int, title: str, shots: Path) -> FailedSave:
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"failed-save-{variant}.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            tab.goto(f"{url}/app/?variant={variant}")
            shown = tab.get_by_test_id(f"title-{post_id}")
            shown.wait_for()
            old = shown.inner_text()
            controls.latency_ms, controls.fail_puts = LATENCY_MS, 1
            try:
                tab.get_by_role("button", name=f"edit {post_id}").click()
                tab.get_by_label(f"new title {post_id}").fill(title)
                with tab.expect_response(lambda r: r.request.method == "PUT") as put:
                    tab.get_by_role("button", name="save").click()
                    optimistic = shown.inner_text() == title
                assert put.value.status == 500, f"the injected failure did not happen ({put.value.status})"
                time.sleep(LATENCY_MS / 3000)  # onError (if it runs) has run; the refetch is still in flight
                after_500 = shown.inner_text()
                tab.screenshot(path=str(shot))
                tab.get_by_text("in sync").wait_for(timeout=10_000)
                rollback = tab.get_by_test_id("rollback")
                message = rollback.inner_text() if rollback.count() else None
                return FailedSave(variant, old, optimistic, after_500, shown.inner_text(), message, shot)
            finally:
                controls.latency_ms, controls.fail_puts = 0, 0
        finally:
            browser.close()
