"""Self-checks: reference solutions pass, known-wrong answers fail, stubs say "not attempted"."""

from __future__ import annotations

import collections

import pytest

from course_lib.lab import exercises
from course_lib.lab.exercises.start_here import naive_increment
from course_lib.lab.solutions import reference
from course_lib.sqlperf import pagination


@pytest.mark.parametrize("name", exercises.names())
def test_every_reference_solution_passes_its_check(name):
    report = exercises.check(name, reference(name), quiet=True)
    assert report.ok, str(report)


def test_the_naive_increment_fails_the_race_check():
    report = exercises.check("safe_increment", naive_increment, quiet=True)
    assert report.attempted and not report.ok
    assert any("counter ends at 2" in f for f in report.failed)
    assert "hint('safe_increment')" in str(report) and "counter.lock" not in str(report), "no answer unasked"


def test_a_lock_without_the_pause_point_is_caught():
    def no_point(counter):
        with counter.lock:
            counter.write(counter.read() + 1)

    report = exercises.check("safe_increment", no_point, quiet=True)
    assert any("after_read" in f for f in report.failed)


def test_an_untouched_stub_is_not_attempted_and_does_not_raise(capsys):
    def stub(counter):
        raise NotImplementedError

    report = exercises.check("safe_increment", stub)
    assert not report.attempted and not report.ok
    assert "not attempted" in capsys.readouterr().out


def test_a_crashing_answer_is_reported_not_raised():
    report = exercises.check("safe_increment", lambda counter: 1 / 0, quiet=True)
    assert any("ZeroDivisionError" in f for f in report.failed)


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="safe_increment"):
        exercises.check("no_such_exercise", print)


def test_a_decision_that_ignores_the_lease_fails_the_idempotency_check():
    report = exercises.check("decide_claim", lambda row, fp, now: "takeover", quiet=True)
    assert report.attempted and not report.ok
    assert any("409" in f for f in report.failed) and any("422" in f for f in report.failed)


def test_plain_exponential_fails_the_full_jitter_check():
    report = exercises.check("full_jitter_delay", lambda attempt, base, cap, rng: min(cap, base * 2**attempt),
                             quiet=True)
    assert not report.ok and any("spread" in f for f in report.failed)


def test_cancelling_without_the_rule_fails_the_check():
    from course_lib.events import Cancelled

    report = exercises.check("cancel_order", lambda order, reason: [Cancelled(reason)], quiet=True)
    assert not report.ok and any("shipped" in f for f in report.failed)


def test_a_get_then_delete_release_is_caught_by_the_handover_check():
    def get_then_delete(client, key, token):
        if client.get(key) == token.encode():
            client.delete(key)
            return True
        return False

    report = exercises.check("safe_release", get_then_delete, quiet=True)
    assert report.attempted and not report.ok
    assert any("newcomer" in f for f in report.failed)


def test_a_release_that_ignores_the_token_is_caught():
    report = exercises.check("safe_release", lambda client, key, token: bool(client.delete(key)), quiet=True)
    assert any("stale token" in f for f in report.failed)


def test_treating_an_expired_token_as_forbidden_is_caught():
    def forbidden_when_expired(state, abilities, needed):
        if state in ("missing", "malformed", "unknown", "revoked"):
            return 401
        return 200 if needed in abilities or "*" in abilities else 403

    report = exercises.check("auth_status", forbidden_when_expired, quiet=True)
    assert any("expired" in f for f in report.failed)


def test_a_keyset_on_a_non_unique_column_fails_the_pagination_check():
    report = exercises.check("keyset_sql", lambda: pagination.WALKS["keyset on created_at alone"][0].replace(
        "WHERE created_at < :c", "WHERE created_at < :c AND :i = :i"), quiet=True)
    assert report.attempted and not report.ok
    assert any("skipped" in f for f in report.failed)


def test_a_fixed_part_size_fails_for_huge_files():
    report = exercises.check("part_size", lambda size: 8 * 1024 * 1024, quiet=True)
    assert report.attempted and not report.ok
    assert any("5,000,000,000,000" in f for f in report.failed)


def test_a_vague_answer_fails_the_own_answer_check():
    vague = "We make sure things are not done twice by being careful with retries. " * 4
    report = exercises.check("own_answer", lambda: vague, quiet=True)
    assert report.attempted and not report.ok
    assert any("unique" in f for f in report.failed) and any("number" in f for f in report.failed)


def test_restoring_the_whole_snapshot_fails_the_rollback_check():
    snapshot = [{"id": 1, "title": "A"}, {"id": 2, "title": "B"}, {"id": 3, "title": "C"}]
    report = exercises.check("rollback_one", lambda data, post_id, old: snapshot, quiet=True)
    assert report.attempted and any("post 2" in f for f in report.failed)


@pytest.mark.parametrize("name", exercises.names())
def test_help_comes_in_three_steps_the_idea_an_outline_then_the_reference(name, monkeypatch, capsys):
    monkeypatch.setattr(exercises, "_HINTS_GIVEN", collections.Counter())
    idea, outline, code = exercises.hint(name), exercises.hint(name), exercises.hint(name)
    assert "hint 1 of 2 (the idea)" in idea and "hint 2 of 2 (an outline)" in outline
    assert idea != outline and "def " in code and code == exercises.solution(name)
    assert "def " not in idea + outline, "the hints stop short of the code"
    assert code in capsys.readouterr().out


def test_a_hint_for_an_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="safe_increment"):
        exercises.hint("no_such_exercise")


def test_a_plain_insert_claims_once_but_makes_the_losers_fail_with_an_error():
    plain = "INSERT INTO exercise_claims (scope, idem_key, holder) VALUES (:scope, :key, :holder)"
    report = exercises.check("claim_sql", lambda dialect: plain, quiet=True)
    assert report.attempted and not report.ok
    assert any("errors: IntegrityError" in f for f in report.failed), report.failed


def test_an_upsert_that_overwrites_the_holder_fails_the_claim_check():
    upsert = ("INSERT INTO exercise_claims (scope, idem_key, holder) VALUES (:scope, :key, :holder) "
              "ON CONFLICT (scope, idem_key) DO UPDATE SET holder = excluded.holder")
    mysql = ("INSERT INTO exercise_claims (scope, idem_key, holder) VALUES (:scope, :key, :holder) "
             "ON DUPLICATE KEY UPDATE holder = VALUES(holder)")
    report = exercises.check("claim_sql", lambda dialect: mysql if dialect == "mysql" else upsert, quiet=True)
    assert any("exactly one inserted a row" in f for f in report.failed), report.failed


def test_leaving_the_guard_in_place_fails_the_break_it_check():
    report = exercises.check("drop_guard", lambda dialect: "SELECT 1", quiet=True)
    assert report.attempted and not report.ok and len(report.failed) == 2
