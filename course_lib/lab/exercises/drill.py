"""Exercise for notebook 09: your own answer to "How do you ensure idempotency for mutations?"."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from course_lib.lab.drill.quiz import ShortAnswer, check
from course_lib.lab.exercises import exercise

Answer = Callable[[], str]

ELEMENTS = [
    ("names the key the client sends", ShortAnswer("", "", (("idempotency key", "idempotency-key", "key"),), "", "")),
    ("says what enforces it (a unique constraint or index, claimed before the work)",
     ShortAnswer("", "", (("unique", "constraint", "claim"),), "", "")),
    ("says what a retry gets back (the stored response, a status code)",
     ShortAnswer("", "", (("200", "409", "422", "stored", "cached", "same response"),), "", "")),
]


@exercise("own_answer",
          concept="an interviewer listens for the mechanism, the failure it prevents and evidence: name each, with "
                  "one number you measured",
          outline="aim for 100-180 words (about a minute): the key, the unique claim before the work, "
          "what retries get (200 / 409 / 422), and one number you measured")
def check_own_answer(answer: Answer) -> Iterator[tuple[str, bool]]:
    text = answer()
    words = len(text.split())
    yield f"about a minute spoken: 80-220 words (yours: {words})", 80 <= words <= 220
    for what, question in ELEMENTS:
        yield f"it {what}", check(question, text).correct
    yield "it quotes a number you measured", re.search(r"\d", text) is not None
