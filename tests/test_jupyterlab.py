"""The lessons as a learner sees them: JupyterLab in Chromium, driven by Playwright.

nbval proves every cell runs; it cannot see a diagram that does not load or a slider that does not redraw.
Here a real JupyterLab serves a copy of notebooks/: the diagrams of 01, 02, 04 and 05 must load in the
rendered markdown; a control made by `explore` must redraw its plot when moved; and lesson 04 (the fastest
with a slider) is run with Run All, must end without an error, and its snapshot-interval slider, moved
afterwards, must redraw a newly measured plot.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from course_lib.backends import settings
from course_lib.lab import diagrams
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).parents[1]
TOKEN = "course-test-token"
START_TIMEOUT_S, RUN_ALL_TIMEOUT_S, NOTHING_STARTED_S = 60, 120, 15


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[str]:
    """JupyterLab on a copy of the lessons and their figures; its base URL."""
    require_chromium()
    folder = tmp_path_factory.mktemp("lab")
    for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"):
        shutil.copy2(path, folder / path.name)
    shutil.copytree(ROOT / "notebooks" / "figures", folder / "figures")
    scratch = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                "language": "python"}})
    scratch.cells = [nbformat.v4.new_code_cell(
        "from course_lib.lab.plots import bars\nfrom course_lib.lab.widgets import explore\n\n"
        'view = explore(lambda n: bars({"n": n}, f"n is {n}", "value"), n=(1, 10, 1, 5))')]
    nbformat.write(scratch, folder / "control.ipynb")
    port = settings.free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={folder}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            httpx.get(f"{url}/api/status", params={"token": TOKEN}, timeout=2).raise_for_status()
            break
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("JupyterLab did not start (python -m jupyterlab)")
            time.sleep(0.3)
    yield url
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, lab: str, notebook: str):
    """A fresh page (and a fresh JupyterLab workspace, so no earlier tab is restored) showing `notebook`."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    workspace = f"{notebook.replace('.', '-')}-{time.monotonic_ns()}"  # new and empty: nothing to restore
    page.goto(f"{lab}/lab/workspaces/{workspace}/tree/{notebook}?token={TOKEN}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    return page


def _accept_kernel_dialog(page) -> None:
    """JupyterLab sometimes asks which kernel to start (a race between opening the notebook and starting its
    session); a learner answers with the notebook's own kernel, the preselected one."""
    accept = page.locator(".jp-Dialog:has-text('Select Kernel') button.jp-mod-accept")
    if accept.count():
        accept.first.click()


def _run_all(page) -> None:
    """Run > Run All Cells, as a learner does, and wait until every code cell shows its execution number.
    A Run All given while JupyterLab is still settling its kernel can be dropped (nothing starts): then it is
    given again, once."""
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    for _attempt in range(2):
        _accept_kernel_dialog(page)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        clicked = time.monotonic()
        while True:
            prompts = page.evaluate("() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                                    ".map(p => p.textContent.trim())")
            if all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
                return
            waited = time.monotonic() - clicked
            if waited > NOTHING_STARTED_S and all(p == "[ ]:" for p in prompts):
                break  # the Run All was dropped
            assert waited < RUN_ALL_TIMEOUT_S, f"Run All did not finish in {RUN_ALL_TIMEOUT_S} s: {prompts}"
            _accept_kernel_dialog(page)
            page.wait_for_timeout(500)
    raise AssertionError("Run All started nothing, twice")


def _move_slider(page, index: int, value: str) -> str:
    """Type `value` into the index-th slider's readout (as a learner can) and wait for the redrawn plot."""
    before = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')].map(i => i.src)")
    readout = page.locator(".widget-readout").nth(index)
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")
    page.wait_for_function("(before) => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                           ".some(i => i.complete && i.naturalWidth > 0 && !before.includes(i.src))",
                           arg=before, timeout=60_000)
    return readout.inner_text()


@pytest.mark.parametrize("figure", sorted(diagrams.SHOWN_IN))
def test_the_lessons_diagram_loads_in_jupyterlab(lab, browser, figure):
    page = _open(browser, lab, f"{diagrams.SHOWN_IN[figure]}.ipynb")
    image = page.locator(f".jp-RenderedMarkdown img[src*='{figure}']").first
    image.scroll_into_view_if_needed(timeout=60_000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                           timeout=30_000)
    assert image.evaluate("img => img.naturalWidth") >= 600, "drawn at its own size, not a broken-image icon"
    page.close()


def test_a_control_redraws_its_plot_when_moved(lab, browser):
    page = _open(browser, lab, "control.ipynb")
    _run_all(page)
    assert _move_slider(page, 0, "8") == "8"
    assert page.locator(".jp-OutputArea-output .jp-RenderedImage img").count() >= 1
    page.close()


def test_lesson_04_runs_all_in_jupyterlab_and_its_slider_measures_again(lab, browser):
    page = _open(browser, lab, "04_event_sourcing.ipynb")
    _run_all(page)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                          ":has-text('Traceback'), .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()
    page.locator(".widget-slider").first.scroll_into_view_if_needed()
    assert _move_slider(page, 0, "500") == "500"
    page.close()
