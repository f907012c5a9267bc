"""The instructor's decks: speaker notes from each section's claims, and every deck opening offline.

The browser test drives Debian's Chromium through Playwright with the network switched off and fails
on any failed request or page error. CI installs Chromium; elsewhere the test is skipped without it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.lab import diagrams, slides
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium

ROOT = Path(__file__).parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_committed_diagrams_are_the_ones_the_module_draws(tmp_path):
    drawn = {p.name: p.read_text() for p in diagrams.write(tmp_path)}
    committed = {p.name: p.read_text() for p in (ROOT / "notebooks" / "figures").glob("*.svg")}
    assert committed == drawn, "run `course slides --annotate` and commit notebooks/figures/"


def test_every_figure_a_notebook_links_to_exists_and_each_diagram_is_shown():
    linked = {}
    for path in LESSONS:
        text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        linked[path.stem] = re.findall(r"\]\((figures/[^)]+)\)", text)
        for link in linked[path.stem]:
            assert (ROOT / "notebooks" / link).is_file(), (path.name, link)
    for figure, name in diagrams.SHOWN_IN.items():
        assert f"figures/{figure}.svg" in linked[name], (name, linked[name])


def test_speaker_notes_give_the_time_and_the_claims_checked():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## A section\nSome words to say."),
        nbformat.v4.new_code_cell('x = 1\nassert x == 1, "exactly one order"'),
    ])
    noted = slides.with_notes(nb)
    note = noted.cells[1]
    assert note.metadata["slideshow"]["slide_type"] == "notes"
    assert note.source.startswith("About 2 min.") and "exactly one order" in note.source
    assert [c.metadata["slideshow"]["slide_type"] for c in noted.cells] == ["slide", "notes", "subslide"]


def test_annotate_is_idempotent_and_estimates_every_section():
    nb = nbformat.read(LESSONS[0], as_version=4)
    once = slides.annotate(nb)
    assert slides.annotate(once).cells == once.cells
    assert all(g[0].metadata["course"]["minutes"] >= 1 for g in slides.sections(once))


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    if not shutil.which("npm") and not os.environ.get("CI"):
        pytest.skip("building decks fetches reveal.js with npm once; npm is not installed")
    return slides.build(LESSONS, tmp_path_factory.mktemp("slides"))


def test_make_slides_builds_a_deck_for_every_notebook(decks):
    assert [d.name for d in decks] == [f"{p.stem}.slides.html" for p in LESSONS]
    assert (decks[0].parent / "reveal.js" / "dist" / "reveal.js").exists()
    for deck in decks:
        html = deck.read_text()
        assert 'class="notes"' in html and "unpkg.com" not in html and "cdnjs" not in html


def test_every_deck_opens_offline_with_no_failed_request(decks):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(offline=True)
        shown: dict[str, list[str]] = {}
        for deck in decks:
            page = context.new_page()
            failed, errors = [], []
            page.on("requestfailed", lambda r, failed=failed: failed.append(r.url))
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(deck.as_uri())
            page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=15_000)
            total = page.evaluate("Reveal.getTotalSlides()")
            assert not failed and not errors, (deck.name, failed, errors)
            assert total >= 10, (deck.name, total)
            drawn = page.evaluate("[...document.querySelectorAll('img[src^=\"figures/\"]')]"
                                  ".map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
            assert all(ok for _, ok in drawn), (deck.name, drawn)
            shown[deck.name] = [src for src, _ in drawn]
            page.close()
        browser.close()
    for figure, name in diagrams.SHOWN_IN.items():  # the diagrams are in the decks, loaded, not only linked
        assert f"figures/{figure}.svg" in shown[f"{name}.slides.html"], (name, shown)
