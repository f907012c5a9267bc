"""Reference solution for notebook 09's exercise: the model answer, with example figures."""

from __future__ import annotations

from course_lib.lab.drill.interview import idempotency_answer

EXAMPLE_FIGURES = {"lockstep_retries": 4, "lockstep_charges": 4, "stress_requests": 64, "stress_keys": 8,
                   "seed_extra_charges": 31, "seed_duplicated_keys": 7, "claim_first_max_charges_per_key": 1}


def own_answer() -> str:
    return idempotency_answer(EXAMPLE_FIGURES)
