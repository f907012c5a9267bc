"""Every notebook follows the lesson template (CONTRIBUTING.md) and is committed without outputs."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))  # lessons and _template
SETUP_CALL = re.compile(r"\b(cl|course_lib)\.setup\(")
# CONTRIBUTING.md: cells are short (~15 lines); this is the hard ceiling a reviewer would refuse above.
MAX_CODE_LINES = 20


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ is empty"


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def nb(request):
    return nbformat.read(request.param, as_version=4)


def test_named_in_teaching_order(nb, request):
    assert re.fullmatch(r"(\d\d_[a-z0-9_]+|_template)\.ipynb", request.node.callspec.id)


def test_committed_without_outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_opens_with_title_and_what_you_will_learn(nb):
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert "You will learn" in first.source
    assert "Time:" in first.source and "Prerequisites:" in first.source


def test_has_the_setup_cell_first(nb):
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert SETUP_CALL.search(first_code.source), "the first code cell must call course_lib.setup()"


def test_ends_with_summary_interview_angle_exercises(nb):
    headings = [ln.strip() for c in nb.cells if c.cell_type == "markdown" for ln in c.source.splitlines()
                if ln.startswith("## ")]
    wanted = ["## Summary", "## Interview angle", "## Exercises", "## Further reading"]
    positions = [headings.index(h) for h in wanted]
    assert positions == sorted(positions), f"sections out of order: {headings}"


def test_code_cells_stay_short(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            assert len(lines) <= MAX_CODE_LINES, f"{len(lines)} lines; move the mechanism to course_lib:\n{cell.source}"


def test_no_hard_coded_service_urls(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not re.search(r"(mysql\+pymysql|redis)://|127\.0\.0\.1:\d+", cell.source), cell.source[:80]


def test_every_cell_carries_slide_metadata_and_every_section_a_time(nb):
    """`course slides --annotate` has been run since the last edit (it is idempotent)."""
    from course_lib.lab.slides import annotate

    assert annotate(nb).cells == nb.cells, "run `course slides --annotate` after editing a notebook"
    headings = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith(("# ", "## "))]
    assert headings and all(c.metadata["course"]["minutes"] >= 1 for c in headings)


def test_readme_learning_path_lists_every_lesson_with_its_study_time():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for path in NOTEBOOKS:
        if path.name.startswith("_"):
            continue
        nb = nbformat.read(path, as_version=4)
        minutes = sum(c.metadata.get("course", {}).get("minutes", 0) for c in nb.cells)
        row = next((line for line in readme.splitlines() if line.startswith(f"| `{path.stem}` |")), None)
        assert row is not None, f"README's learning path has no row for {path.stem}"
        assert row.rstrip().endswith(f"| ~{minutes} min |"), f"{path.stem}: README says {row[-14:]}, metadata {minutes}"


def test_the_opening_states_the_same_study_time_as_the_readme(nb):
    """One source of truth: the sections' estimates, summed into the opening's "Time: about N minutes"."""
    from course_lib.lab.slides import stated_minutes, study_minutes

    if "Time: about N minutes" in nb.cells[0].source:  # the template's placeholder
        return
    assert stated_minutes(nb) == study_minutes(nb), "run `course slides --annotate`"


CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([a-z_]+)["']""")
LESSONS_WITH_THREE_EXERCISES = [p for p in NOTEBOOKS if re.match(r"0[1-8]_", p.name)]


@pytest.mark.parametrize("path", LESSONS_WITH_THREE_EXERCISES, ids=lambda p: p.name)
def test_lessons_01_to_08_have_three_exercises_each_with_a_hint_and_a_reference(path):
    from course_lib.lab import exercises
    from course_lib.lab.solutions import reference

    cells = nbformat.read(path, as_version=4).cells
    names = {m for c in cells if c.cell_type == "code" for m in CHECK_CALL.findall(c.source)}
    assert len(names) >= 3, f"{path.name}: exercises {sorted(names)}; the learner writes at least three mechanisms"
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    for name in names:
        assert name in exercises.names() and reference(name)
        assert f'hint("{name}")' in text, f"{path.name}: say how to get help with {name}"
