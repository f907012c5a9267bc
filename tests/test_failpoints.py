"""Failpoints: a no-op until armed; armed for one context unless asked for everywhere; counted by hit."""

from __future__ import annotations

import threading

import pytest

from course_lib import failpoints
from course_lib.failpoints import SimulatedCrash, crash_at


def test_a_point_does_nothing_when_nothing_is_armed_or_watching():
    failpoints.point("anywhere")
    failpoints.note("anything")


def test_an_armed_point_crashes_on_its_hit_and_every_hit_after():
    with crash_at("step", on_hit=3) as arming:
        failpoints.point("step")
        failpoints.point("other")  # another name is not armed
        failpoints.point("step")
        with pytest.raises(SimulatedCrash, match="'step'"):
            failpoints.point("step")
        with pytest.raises(SimulatedCrash):
            failpoints.point("step")
    assert (arming.hits, arming.fired) == (4, 2)
    failpoints.point("step")  # disarmed when the block ends


def test_an_arming_holds_in_its_own_context_only():
    crashed: dict[str, bool] = {}

    def other_thread() -> None:
        try:
            failpoints.point("step")
            crashed["other"] = False
        except SimulatedCrash:
            crashed["other"] = True

    with crash_at("step"):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        with pytest.raises(SimulatedCrash):
            failpoints.point("step")
    assert crashed == {"other": False}


def test_everywhere_reaches_other_threads():
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            failpoints.point("step")
        except SimulatedCrash as exc:
            errors.append(exc)

    with crash_at("step", everywhere=True):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(errors) == 1
    failpoints.point("step")


def test_on_hit_counts_from_one():
    with pytest.raises(ValueError, match="from 1"), crash_at("step", on_hit=0):
        pass
