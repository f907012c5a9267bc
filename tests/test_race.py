"""The race harness: lock step is deterministic, explicit schedules are followed, blocking is seen."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.lab import race
from course_lib.lab.exercises.start_here import Counter, naive_increment
from course_lib.lab.plots import timeline
from course_lib.lab.solutions.start_here import safe_increment


def steps(caller: race.Caller) -> str:
    race.point("one")
    race.point("two")
    return caller.name


def test_round_robin_gives_the_expected_interleaving():
    result = race.run(steps, callers=2, schedule="round_robin")
    assert result.order() == [
        ("A", "start"), ("A", "one"), ("B", "start"), ("B", "one"),
        ("A", "two"), ("B", "two"), ("A", "end"), ("B", "end"),
    ]
    assert result.results == {"A": "A", "B": "B"} and not result.errors


def test_lock_step_is_identical_on_every_run():
    orders = {tuple(race.run(steps, callers=3, schedule="round_robin").order()) for _ in range(20)}
    assert len(orders) == 1


def _outcome(n: int, schedule: list) -> list | str:
    try:
        return race.run(steps, callers=n, schedule=schedule).order()
    except race.ScheduleError as exc:
        return str(exc)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), turns=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["one", "two", "end"])),
                                          max_size=8))
def test_any_named_schedule_replays_the_same_way(n, turns):
    names = race.caller_names(n)
    schedule = [(names[t % n], point) for t, point in turns]
    first, again = _outcome(n, schedule), _outcome(n, schedule)
    assert first == again
    if isinstance(first, list):
        assert sorted(first) == sorted((c, e) for c in names for e in ("start", "one", "two", "end"))


def test_a_step_runs_its_caller_to_the_named_point_then_the_next_step_runs():
    result = race.run(steps, callers=2, schedule=[("A", "two"), ("B", "end"), ("A", "end")])
    assert result.order() == [("A", "start"), ("A", "one"), ("A", "two"), ("B", "start"), ("B", "one"),
                              ("B", "two"), ("B", "end"), ("A", "end")]


def test_a_new_point_in_the_code_does_not_change_a_named_schedule():
    def more_steps(caller: race.Caller) -> str:
        race.point("one")
        race.point("one and a half")  # added later: a turn-counting schedule would now mean something else
        race.point("two")
        return caller.name

    schedule = [("A", "two"), ("B", "end"), ("A", "end")]
    before = [e for e in race.run(steps, callers=2, schedule=schedule).order() if e[1] != "one and a half"]
    after = [e for e in race.run(more_steps, callers=2, schedule=schedule).order() if e[1] != "one and a half"]
    assert before == after


def test_a_step_whose_caller_ends_before_its_point_is_an_error():
    with pytest.raises(race.ScheduleError, match="ended without reaching a point named 'three'"):
        race.run(steps, callers=2, schedule=[("A", "three")])


def test_explicit_schedule_is_followed_then_round_robin():
    result = race.run(steps, callers=2, schedule=[("B", "end")])
    assert result.order()[:4] == [("B", "start"), ("B", "one"), ("B", "two"), ("B", "end")]
    assert [e for e in result.order() if e[0] == "A"] == [("A", "start"), ("A", "one"), ("A", "two"), ("A", "end")]


def test_lost_update_happens_in_lock_step_and_lock_fixes_it_with_visible_blocking():
    counter = Counter()
    race.run(lambda c: naive_increment(counter), callers=2, schedule="round_robin")
    assert counter.value == 1
    counter = Counter()
    result = race.run(lambda c: safe_increment(counter), callers=2, schedule="round_robin")
    assert counter.value == 2
    assert ("B", "blocked") in result.order()


def test_released_together_runs_concurrently_and_collects_errors():
    gate = threading.Barrier(4, timeout=5)  # passes only if all four callers run at the same time

    def caller(c: race.Caller) -> int:
        gate.wait()
        if c.name == "D":
            raise ValueError("boom")
        return c.index

    result = race.run(caller, callers=4)
    assert result.results == {"A": 0, "B": 1, "C": 2}
    assert isinstance(result.errors["D"], ValueError)
    assert ("D", "error: ValueError") in result.order()
    with pytest.raises(ValueError, match="boom"):
        result.raise_first_error()


def test_one_function_per_caller():
    result = race.run([lambda c: "reader", lambda c: "writer"])
    assert result.results == {"A": "reader", "B": "writer"}


def test_points_outside_a_race_do_nothing():
    race.point("anywhere")
    race.note("anything")
    assert race.current() is None


def test_a_stuck_race_times_out_with_where_each_caller_was():
    never = threading.Event()

    def stuck(c: race.Caller) -> None:
        race.point("waiting")
        never.wait(10)

    try:
        with pytest.raises(race.RaceTimeout, match="waiting"):
            race.run(stuck, callers=2, timeout=1.0)
    finally:
        never.set()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"schedule": [("A", "end"), ("Z", "end")]}, "unknown callers"),
    ({"schedule": ["A", "B"]}, "a schedule step is \\(caller, point name\\)"),
    ({"schedule": "random"}, "round_robin"),
    ({"callers": 3, "fn_list": True}, "2 functions for 3 callers"),
])
def test_bad_arguments_are_explained(kwargs, message):
    fn = [steps, steps] if kwargs.pop("fn_list", False) else steps
    with pytest.raises(ValueError, match=message):
        race.run(fn, **kwargs)


def test_many_callers_get_sortable_names():
    assert race.caller_names(3) == ["A", "B", "C"]
    assert race.caller_names(30)[:2] == ["c01", "c02"] and len(set(race.caller_names(30))) == 30


def test_timeline_draws_one_lane_per_caller():
    result = race.run(steps, callers=3, schedule="round_robin")
    fig = timeline(result)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B", "C"]
    assert ax.get_xlabel() == "order of events"
    assert timeline(race.run(steps, callers=3), x="time").axes[0].get_xlabel().startswith("time")


def test_a_policy_has_one_colour_in_every_chart_whatever_the_order():
    from course_lib.lab.plots import lines

    names = ["Exponential", "FullJitter", "Decorr", "None"]
    first = lines([1, 2], {n: [1, 2] for n in names}, "a", "x", "y").axes[0].get_lines()
    second = lines([1, 2], {n: [1, 2] for n in reversed(names)}, "b", "x", "y").axes[0].get_lines()
    colour = lambda lines_: {line.get_label(): line.get_color() for line in lines_}  # noqa: E731
    assert colour(first) == colour(second)
