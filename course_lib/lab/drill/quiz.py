"""Quiz questions with immediate feedback: multiple choice, and short answers checked by key terms.

A short answer is right when it contains a term from every required group (case-insensitive,
whole words with a short inflection allowed), so "timing", "time" and "constant-time" all pass,
and a learner can answer in their own words as long as the essential term is there.
`quiz_widget()` shows the questions in JupyterLab; `check()` is what the widget calls, and what the
tests exercise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MultipleChoice:
    topic: str
    prompt: str
    options: tuple[str, ...]
    answer: int  # index into options
    why: str

    def __post_init__(self) -> None:
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"answer {self.answer} is not an option index of {self.prompt!r}")


@dataclass(frozen=True)
class ShortAnswer:
    topic: str
    prompt: str
    required: tuple[tuple[str, ...], ...]  # every group must be matched by one of its terms
    example: str
    why: str
    forbidden: tuple[str, ...] = field(default=())  # terms that make an answer wrong (a common misconception)


Question = MultipleChoice | ShortAnswer


@dataclass(frozen=True)
class Feedback:
    correct: bool
    message: str


def _mentions(text: str, term: str) -> bool:
    """Whole words, each allowed a short inflection: "skip" finds "skipped", "throw away" finds "throws away"."""
    words = [re.escape(word) + r"[a-z]{0,3}" for word in term.lower().split()]
    return re.search(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", text.lower()) is not None


def check(question: Question, answer: int | str | None) -> Feedback:
    """Whether `answer` is right, and a message that teaches either way."""
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return Feedback(False, "No answer yet.")
    if isinstance(question, MultipleChoice):
        if isinstance(answer, str):
            answer = question.options.index(answer) if answer in question.options else -1
        if answer == question.answer:
            return Feedback(True, f"Right. {question.why}")
        return Feedback(False, f"Not quite: the answer is \"{question.options[question.answer]}\". {question.why}")
    text = str(answer)
    wrong = [t for t in question.forbidden if _mentions(text, t)]
    missing = [group for group in question.required if not any(_mentions(text, t) for t in group)]
    if not missing and not wrong:
        return Feedback(True, f"Right. {question.why}")
    hints = [f"it should mention {' and '.join(' or '.join(repr(t) for t in g) for g in missing)}"] if missing else []
    hints += [f"{', '.join(repr(t) for t in wrong)} is the misconception here"] if wrong else []
    return Feedback(False, f"Not yet: {'; '.join(hints)}. For example: \"{question.example}\". {question.why}")


def score(questions: Sequence[Question], answers: Sequence[int | str | None]) -> int:
    return sum(check(q, a).correct for q, a in zip(questions, answers, strict=True))


def quiz_widget(questions: Sequence[Question]):
    """One block per question (radio buttons or a text box, a Check button, the feedback), and a score."""
    import ipywidgets as w

    blocks, total = [], w.HTML()
    results: dict[int, bool] = {}

    def refresh_total() -> None:
        total.value = f"<b>Score: {sum(results.values())} / {len(questions)}</b>"

    for i, q in enumerate(questions):
        prompt = w.HTML(f"<b>{i + 1}. [{q.topic}]</b> {q.prompt}")
        field_ = (w.RadioButtons(options=list(q.options), value=None, layout={"width": "max-content"})
                  if isinstance(q, MultipleChoice) else w.Textarea(placeholder="your answer", layout={"width": "90%"}))
        button, out = w.Button(description="Check"), w.HTML()

        def on_click(_b, q=q, field_=field_, out=out, i=i) -> None:
            fb = check(q, field_.value)
            results[i] = fb.correct
            out.value = f"<span style='color:{'#2e7d32' if fb.correct else '#c0392b'}'>{fb.message}</span>"
            refresh_total()

        button.on_click(on_click)
        blocks.append(w.VBox([prompt, field_, button, out]))
    refresh_total()
    return w.VBox([*blocks, total])
