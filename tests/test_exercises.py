"""Self-checks: reference solutions pass, known-wrong answers fail, stubs say "not attempted"."""

from __future__ import annotations

import collections
import hashlib
import hmac

import pytest

from course_lib.lab import exercises
from course_lib.lab.exercises.start_here import naive_increment
from course_lib.lab.solutions import reference
from course_lib.sqlperf import pagination


@pytest.mark.parametrize("name", exercises.names())
def test_every_reference_solution_passes_its_check(name):
    report = exercises.check(name, reference(name), quiet=True)
    assert report.ok, str(report)


@pytest.mark.parametrize("name", exercises.names())
def test_every_check_fails_a_do_nothing_answer(name):
    """An answer that returns nothing (or, for a class, builds nothing) is attempted and fails: no check passes
    by default. A stub that still raises NotImplementedError is "not attempted", which is not a pass either."""
    nothing = exercises.check(name, lambda *args, **kwargs: None, quiet=True)
    assert nothing.attempted and not nothing.ok, str(nothing)

    def stub(*args, **kwargs):
        raise NotImplementedError

    untouched = exercises.check(name, stub, quiet=True)
    assert not untouched.attempted and not untouched.ok


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


def _fails(name, answer, *expected_in_failures):
    report = exercises.check(name, answer, quiet=True)
    assert report.attempted and not report.ok, str(report)
    for words in expected_in_failures:
        assert any(words in f for f in report.failed), f"{words!r} not in {report.failed}"
    return report


def test_an_unfenced_update_lets_the_stale_holder_write():
    _fails("fenced_sql", lambda: "UPDATE exercise_fenced SET fence = :fence, status = :status WHERE id = :id",
           "expected [True, False, False, True]")


def test_a_fence_compared_with_less_or_equal_accepts_a_repeated_token():
    _fails("fenced_sql", lambda: "UPDATE exercise_fenced SET fence = :fence, status = :status "
                                 "WHERE id = :id AND fence <= :fence", "expected [True, False, False, True]")


def test_taking_the_token_before_the_lock_spends_tokens_on_refusals():
    incr_first = ("local n = redis.call('incr', KEYS[2]) "
                  "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return n end return false")
    _fails("acquire_script", lambda: incr_first, "the refusal took no token")


def test_decorrelated_jitter_without_its_floor_or_cap_fails():
    _fails("decorrelated_jitter", lambda previous, base, cap, rng: rng.uniform(0, previous * 3),
           "every delay lies in [base, min(cap, 3 x previous)]")


def test_a_budget_that_refunds_one_token_per_success_drains_on_transient_failures():
    class RefundsOne(reference("retry_budget")):
        def on_success(self, last_spent):
            super().on_success(None)

    _fails("retry_budget", RefundsOne, "300 calls that fail once")


def test_an_upcaster_that_converts_money_through_a_float_loses_a_cent():
    def through_float(data):
        return {"sku": data["sku"], "quantity": data["qty"], "unit_price": int(float(data["price"]) * 100),
                "currency": data["cur"].upper()}

    _fails("upcast_legacy_item", through_float, "pen: 28 cents")


def test_a_projection_without_the_version_check_counts_redelivered_events_twice():
    def counts_everything(read_model, r):
        row = read_model.setdefault(r.stream_id, {"version": 0, "items": 0})
        event = r.decode()
        row["items"] += getattr(event, "quantity", 0) * (-1 if type(event).__name__ == "ItemRemoved" else 1)
        row["version"] = r.version

    report = _fails("replay_safe_projection", counts_everything, "delivered again")
    assert report.passed, "delivered once, it is right"


def test_completing_with_the_first_etag_of_a_reuploaded_part_is_caught_by_s3_or_the_bytes():
    def first_wins(answers):
        first = {}
        for p in answers:
            first.setdefault(p["PartNumber"], p["ETag"])
        return [{"PartNumber": n, "ETag": first[n]} for n in sorted(first)]

    _fails("completion_parts", first_wins, "S3 accepts the list")


def test_completing_in_arrival_order_fails():
    _fails("completion_parts", lambda answers: answers, "each part once, ascending")


def test_resuming_only_missing_parts_keeps_a_corrupt_one():
    def missing_only(local, listed):
        held = {p["PartNumber"] for p in listed}
        return sorted(n for n in local if n not in held)

    _fails("parts_to_resume", missing_only, "send [2, 3] (got [3])")


def test_a_plan_reader_that_never_finds_an_index_fails():
    _fails("read_plan", lambda conn, sql: {"index": None, "rows": None}, "index None")


def test_an_index_on_the_filter_column_alone_does_not_cover_the_query():
    _fails("covering_index", lambda: "CREATE INDEX ix_exercise_covering ON shop_orders (status)",
           "answered from the index alone")


def test_comparing_token_hashes_with_equals_is_caught():
    _fails("verify_token", lambda stored, secret: stored == hashlib.sha256(secret.encode()).hexdigest(),
           "constant time")


def test_comparing_the_presented_token_with_the_stored_hash_unhashed_fails():
    _fails("verify_token", lambda stored, secret: hmac.compare_digest(stored, secret), "issued verifies")


def test_a_length_only_token_check_misses_a_typo():
    _fails("well_formed_token", lambda secret: len(secret) == 48, "a changed character")


def test_an_optimistic_update_in_place_is_caught():
    def in_place(data, post_id, title):
        old = next(p["title"] for p in data if p["id"] == post_id)
        for p in data:
            if p["id"] == post_id:
                p["title"] = title
        return data, {"id": post_id, "old_title": old}

    _fails("on_mutate", in_place, "not modified in place")


def test_refetching_after_every_edit_is_caught():
    class EverySettle(reference("mutation_lifecycle")):
        def on_settled(self):
            self.in_flight -= 1
            self.data = self.refetch()

    _fails("mutation_lifecycle", EverySettle, "no refetch yet")
