"""The instructor's view: one reveal.js deck per notebook, with speaker notes, that opens offline.

    course slides              # build/slides/NN_topic.slides.html, plus build/slides/reveal.js/
    course slides --annotate   # (contributors) after editing: slide metadata, and the diagrams in figures/

Every notebook carries slide metadata: each heading cell starts a slide and records an estimated
time for its section (`metadata.course.minutes`); every other cell is a sub-slide, so a long code cell
and its output get a screen of their own. At build time each section gets speaker notes: the time,
and the claims its cells assert, which are what an instructor should say out loud.

Decks are built from the executed copies in build/executed/ when they exist (with outputs: plots,
tables), else from the notebooks as committed; the diagrams (notebooks/figures/*.svg) are copied beside
the decks, where the markdown's relative links find them. reveal.js is fetched once with npm and copied beside
the decks; nothing is loaded from a CDN, so a deck works on a projector with no network.
"""

from __future__ import annotations

import copy
import math
import re
import shutil
import subprocess
from pathlib import Path

import nbformat

from course_lib.backends import settings

REVEAL_VERSION = "4.6.1"  # nbconvert's reveal template is written for reveal.js 4
TEMPLATES = Path(__file__).parent / "slides_template"
# Speaking pace for prose on a slide, and the time a live code cell takes (run it, read the output,
# say what it proves). Rough on purpose: the estimate plans a session, it does not time it.
WORDS_PER_MINUTE, MINUTES_PER_CODE_CELL = 130, 1.0
_ASSERT_MESSAGE = re.compile(r"""assert .+?,\s*(f?["'])(.+?)\1\s*$""", re.MULTILINE)


def _is_heading(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.lstrip().startswith(("# ", "## "))


def sections(nb) -> list[list]:
    """The cells grouped by heading: each group starts with a heading cell."""
    groups: list[list] = []
    for cell in nb.cells:
        if _is_heading(cell) or not groups:
            groups.append([])
        groups[-1].append(cell)
    return groups


def estimate_minutes(cells: list) -> int:
    words = sum(len(c.source.split()) for c in cells if c.cell_type == "markdown")
    code = sum(c.cell_type == "code" for c in cells)
    return max(1, math.ceil(words / WORDS_PER_MINUTE + code * MINUTES_PER_CODE_CELL))


# The study time an opening cell states ("Time: about 25 minutes", bold or not): written by `annotate`
# from the sections' estimates, so the notebook, the README's table and the slides say one number.
_STATED_TIME = re.compile(r"(Time:(?:\*\*)? about )(\d+)( minutes)")


def annotate(nb):
    """The notebook with slide metadata on every cell, a time estimate on every heading, and the total
    stated in its opening cell (idempotent)."""
    nb = copy.deepcopy(nb)
    for group in sections(nb):
        for cell in group:
            cell.metadata["slideshow"] = {"slide_type": "slide" if _is_heading(cell) else "subslide"}
        if _is_heading(group[0]):
            group[0].metadata["course"] = {"minutes": estimate_minutes(group)}
    total = study_minutes(nb)
    if nb.cells and total:
        nb.cells[0].source = _STATED_TIME.sub(lambda m: f"{m.group(1)}{total}{m.group(3)}", nb.cells[0].source, count=1)
    return nb


def study_minutes(nb) -> int:
    """The notebook's study time: the sum of its sections' estimates."""
    return sum(c.metadata.get("course", {}).get("minutes", 0) for c in nb.cells)


def stated_minutes(nb) -> int | None:
    """The study time the notebook's opening cell states, if it states one."""
    found = _STATED_TIME.search(nb.cells[0].source) if nb.cells else None
    return int(found.group(2)) if found and found.group(2).isdigit() else None


def speaker_notes(group: list) -> str:
    minutes = group[0].metadata.get("course", {}).get("minutes", estimate_minutes(group))
    claims = [m.group(2) for c in group if c.cell_type == "code" for m in _ASSERT_MESSAGE.finditer(c.source)]
    lines = [f"About {minutes} min."]
    if claims:
        lines.append("Checked live in this section: " + "; ".join(dict.fromkeys(claims)) + ".")
    lines.append("Run the cells, let the output land, then say what it proves before moving on.")
    return " ".join(lines)


def with_notes(nb):
    """A copy with a speaker-notes cell after each section's heading (reveal.js shows them on 's')."""
    nb = annotate(nb)
    cells = []
    for group in sections(nb):
        cells.append(group[0])
        if _is_heading(group[0]):
            note = nbformat.v4.new_markdown_cell(speaker_notes(group))
            note.metadata["slideshow"] = {"slide_type": "notes"}
            cells.append(note)
        cells += group[1:]
    nb.cells = cells
    return nb


def vendor_reveal(target: Path) -> Path:
    """reveal.js's dist/ and notes plugin under `target`, fetched once with npm into build/vendor/."""
    if (target / "dist" / "reveal.js").exists():
        return target
    vendor = settings.current().build_dir / "vendor"
    package = vendor / "node_modules" / "reveal.js"
    if not (package / "dist" / "reveal.js").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(f"course slides: fetching reveal.js {REVEAL_VERSION} needs npm once (install Node.js), "
                             f"or copy reveal.js's dist/ and plugin/notes/ into {target}")
        vendor.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(vendor),
                        f"reveal.js@{REVEAL_VERSION}"], check=True, capture_output=True)
    shutil.copytree(package / "dist", target / "dist", dirs_exist_ok=True)
    shutil.copytree(package / "plugin" / "notes", target / "plugin" / "notes", dirs_exist_ok=True)
    return target


def build(notebooks: list[Path], out_dir: Path, executed_dir: Path | None = None) -> list[Path]:
    """One deck per notebook in `out_dir`; returns their paths."""
    from nbconvert import SlidesExporter

    out_dir.mkdir(parents=True, exist_ok=True)
    vendor_reveal(out_dir / "reveal.js")
    for figures in {path.parent / "figures" for path in notebooks} - {out_dir / "figures"}:
        if figures.is_dir():  # the diagrams a notebook's markdown shows as figures/<name>.svg
            shutil.copytree(figures, out_dir / "figures", dirs_exist_ok=True)
    exporter = SlidesExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="course_reveal",
                              reveal_url_prefix="reveal.js", reveal_theme="white", exclude_input_prompt=True,
                              exclude_output_prompt=True)
    decks = []
    for path in notebooks:
        executed = executed_dir / path.name if executed_dir else None
        source = executed if executed and executed.exists() else path
        body, _ = exporter.from_notebook_node(with_notes(nbformat.read(source, as_version=4)))
        deck = out_dir / f"{path.stem}.slides.html"
        deck.write_text(body, encoding="utf-8")
        decks.append(deck)
    return decks
