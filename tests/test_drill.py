"""The interview drill: quiz answer checking, the question bank, and answers built from saved figures."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.lab import results, understanding
from course_lib.lab.drill import GLOSSARY, PITFALLS, QUESTIONS, TRADE_OFFS, MultipleChoice, ShortAnswer, check, score
from course_lib.lab.drill.interview import idempotency_answer, idempotency_figures

MC = MultipleChoice("t", "2 + 2?", ("3", "4", "5"), 1, "Arithmetic.")
SA = ShortAnswer("t", "Status for a reused key?", (("422", "unprocessable"),), "422", "The draft says so.",
                 forbidden=("409",))


@pytest.mark.parametrize(("answer", "correct"), [(1, True), ("4", True), (0, False), ("5", False), (None, False),
                                             ("seven", False)])
def test_multiple_choice_accepts_the_index_or_the_option_text(answer, correct):
    assert check(MC, answer).correct is correct


@pytest.mark.parametrize(("answer", "correct"), [
    ("422", True), ("HTTP 422 Unprocessable Content", True), ("  UNPROCESSABLE  ", True),
    ("4220", False), ("409 or 422", False), ("", False), ("a conflict", False),
])
def test_short_answers_need_every_group_and_no_misconception(answer, correct):
    assert check(SA, answer).correct is correct


def test_feedback_teaches_either_way():
    right, wrong = check(SA, "422"), check(SA, "409")
    assert right.message.startswith("Right.") and "draft" in right.message
    assert "misconception" in wrong.message and "422" in wrong.message
    assert "should mention" in check(SA, "no idea").message
    assert '"4"' in check(MC, 0).message


def test_inflections_and_hyphens_count_as_the_word():
    q = ShortAnswer("t", "?", (("skip", "throw away"), ("time",)), "x", "y")
    assert check(q, "it throws away skipped rows in constant-time").correct


def test_every_question_accepts_its_own_example_and_rejects_a_shrug():
    for q in QUESTIONS:
        ok = q.answer if isinstance(q, MultipleChoice) else q.example
        assert check(q, ok).correct, q.prompt
        assert not check(q, "I am not sure").correct, q.prompt
    right = [q.answer if isinstance(q, MultipleChoice) else q.example for q in QUESTIONS]
    assert score(QUESTIONS, right) == len(QUESTIONS) == 18


def test_the_bank_covers_every_topic_notebook():
    topics = {q.topic.split()[0] for q in QUESTIONS}
    assert topics == {"00", "01", "02", "03", "04", "05", "06", "07", "08"}


def test_a_multiple_choice_answer_must_be_an_option():
    with pytest.raises(ValueError, match="not an option"):
        MultipleChoice("t", "?", ("a",), 3, "")


def test_checklist_links_existing_notebooks_and_content_is_complete():
    from pathlib import Path

    notebooks = Path(__file__).parents[1] / "notebooks"
    assert all((notebooks / link).exists() for _, link in PITFALLS)
    assert len(TRADE_OFFS) == 3 and all(len(t) == 4 for t in TRADE_OFFS)
    assert len(GLOSSARY) >= 15 and all(vi and en for _, vi, en in GLOSSARY)


def test_the_idempotency_answer_quotes_the_saved_figures(clean_env):
    figures = {"database": "MariaDB", "lockstep_retries": 4, "lockstep_charges": 4, "stress_requests": 64,
               "stress_keys": 8, "seed_extra_charges": 31, "seed_duplicated_keys": 7,
               "claim_first_max_charges_per_key": 1}
    results.save("idempotency", figures)
    loaded = idempotency_figures()
    assert loaded.values == figures and "notebook 01" in loaded.source
    answer = idempotency_answer(loaded.values)
    assert "31 duplicate charges" in answer and "7 keys" in answer and "at most 1" in answer


def test_without_saved_figures_the_drill_measures_them(clean_env):
    clean_env.setenv("COURSE_BACKENDS", "embedded")
    measured = idempotency_figures()
    assert "measured just now" in measured.source
    assert measured.values["claim_first_max_charges_per_key"] == 1


def test_the_drill_quotes_no_figure_the_learner_did_not_measure():
    """Numbers in the example introduction come from the learner's results (placeholders), and the quiz's
    feedback points to the notebook that measured them instead of quoting someone else's run."""
    import re

    from course_lib.lab.drill import INTRO_EXAMPLE, QUESTIONS

    for field in ("proud_of", "reliability_example"):
        assert not re.search(r"\d", re.sub(r"\{[^}]*\}", "", INTRO_EXAMPLE[field])), field
        assert "in that lab" in INTRO_EXAMPLE[field] or "in the same lab" in INTRO_EXAMPLE[field]
    for question in QUESTIONS:
        assert not re.search(r"\b\d+ (of \d+|ms|milliseconds?)\b", question.why), question.why


@pytest.mark.parametrize("section", sorted(understanding.SECTIONS))
def test_each_understanding_check_accepts_its_model_answers_and_rejects_a_shrug(section):
    questions = understanding.SECTIONS[section]
    assert 2 <= len(questions) <= 3, "two or three questions after a section"
    for q in questions:
        ok = q.answer if isinstance(q, MultipleChoice) else q.example
        assert check(q, ok).correct, q.prompt
        assert not check(q, "I am not sure").correct, q.prompt
        if isinstance(q, MultipleChoice):
            wrong = next(i for i in range(len(q.options)) if i != q.answer)
            assert check(q, wrong).message.startswith("Not quite"), "a wrong choice is told the answer and why"
    assert understanding.ask(section) is not None


def test_every_lesson_01_to_08_checks_understanding_after_a_section():
    asked = {}
    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("0[1-8]_*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        asked[path.stem] = re.findall(r'ask\("([^"]+)"\)', "\n".join(c.source for c in cells if c.cell_type == "code"))
    assert all(asked.values()), asked
    assert sorted(s for sections in asked.values() for s in sections) == sorted(understanding.SECTIONS)


def test_an_unknown_section_names_the_known_ones():
    with pytest.raises(KeyError, match="01 claim first"):
        understanding.ask("no such section")
