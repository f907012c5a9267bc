"""The interview drill (notebook 09): a quiz with feedback, model answers from measured numbers, a glossary."""

from __future__ import annotations

from course_lib.lab.drill.interview import (
    GLOSSARY,
    INTRO_EXAMPLE,
    PITFALLS,
    SELF_INTRO,
    TRADE_OFFS,
    idempotency_answer,
    idempotency_figures,
    intro_example,
    speaking_timer,
    sql_figures,
)
from course_lib.lab.drill.questions import QUESTIONS
from course_lib.lab.drill.quiz import Feedback, MultipleChoice, ShortAnswer, check, quiz_widget, score

__all__ = [
    "GLOSSARY", "INTRO_EXAMPLE", "PITFALLS", "QUESTIONS", "SELF_INTRO", "TRADE_OFFS", "Feedback", "MultipleChoice",
    "ShortAnswer", "check", "idempotency_answer", "idempotency_figures", "intro_example", "quiz_widget", "score",
    "speaking_timer", "sql_figures",
]
