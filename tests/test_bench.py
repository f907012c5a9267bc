"""`course bench idempotency` at a small size: the workload is what it claims, and ours loses nothing."""

from __future__ import annotations

import json

import pytest

from course_lib.lab.bench import idempotency

from .conftest import require_services


def test_workload_mix_is_deterministic_with_retries_reuses_and_both_crash_kinds():
    ops = idempotency.workload(4000, retry_share=0.3, crash_share=0.05, seed=1)
    assert ops == idempotency.workload(4000, retry_share=0.3, crash_share=0.05, seed=1)
    first_seen: dict[tuple[str, str], int] = {}
    retries = 0
    for i, op in enumerate(ops):
        retries += (op.user, op.key) in first_seen
        first_seen.setdefault((op.user, op.key), i)
    assert 0.25 < retries / len(ops) < 0.45  # 30% retries, 2% reuses, plus one retry per crash
    crashed = [i for i, op in enumerate(ops) if op.crash]
    assert {ops[i].crash for i in crashed} == {"exception", "death"}
    assert all(any((o.user, o.key) == (ops[i].user, ops[i].key) for o in ops[i + 1:]) for i in crashed[:-1])
    reuses = [i for i, op in enumerate(ops) if op.amount == idempotency.OTHER_AMOUNT]
    assert reuses, "some requests reuse a key with another amount"
    for i in reuses:  # a reuse comes long after its key's first request, which did not crash
        first = first_seen[(ops[i].user, ops[i].key)]
        assert i - first >= idempotency.REUSE_DISTANCE and ops[first].crash is None


def test_small_bench_same_work_both_sides_hold_and_the_model_is_printed(tmp_path, clean_env, capsys):
    require_services()
    out = tmp_path / "idempotency.json"
    idempotency.main(requests=600, clients=16, crash_share=0.05, mismatch_share=0.05, repeat=1, out=out)
    report = json.loads(out.read_text())
    figures = report["figures"]
    assert figures["requests"] == 600 and report["workload"]["mismatches"] > 0
    assert set(report["workload"]["crashes_by_kind"]) == {"exception", "death"}
    assert idempotency.held(report, "ours") and idempotency.held(report, "peer")
    # Both sides call the provider again after a crash (a takeover or a retry), deduplicated by its key.
    assert figures["ours_provider_repeats"] > 0 and figures["peer_provider_repeats"] > 0
    assert report["ratio"] == pytest.approx(figures["ours_rps"] / figures["peer_rps"], abs=0.002)
    printed = capsys.readouterr().out
    for what in ("work:", "crash exception:", "crash death:", "payload validation:"):
        assert what in printed


def test_powertools_redis_layer_drops_the_validation_hash_and_the_peer_keeps_it(clean_env):
    """Powertools 3.x: with payload_validation_jmespath on the Redis layer, an identical retry of a
    completed call is refused as a different payload; the benchmark's layer keeps the hash."""
    from course_lib import backends
    from course_lib.lab.bench import powertools_peer

    client = backends.redis().new_client()
    assert powertools_peer.validation_rejects_identical_retry(client, keep_validation_hash=False)
    assert not powertools_peer.validation_rejects_identical_retry(client, keep_validation_hash=True)


def test_the_peers_layer_still_refuses_a_reused_key_with_another_body(clean_env):
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

    from course_lib import backends
    from course_lib.lab.bench import powertools_peer

    call = powertools_peer.wrap(lambda request: {"ok": True}, backends.redis().new_client(), lease_ms=1000)
    call(request={"user": "u", "key": "k", "body": {"amount": 1000}})
    assert call(request={"user": "u", "key": "k", "body": {"amount": 1000}}) == {"ok": True}
    with pytest.raises(IdempotencyValidationError):
        call(request={"user": "u", "key": "k", "body": {"amount": 2000}})


def test_events_bench_reports_ratios_for_the_same_work(tmp_path):
    from course_lib.lab.bench import events

    report = events.main(events=300, repeat=3, out=tmp_path / "events.json")
    saved = json.loads((tmp_path / "events.json").read_text())
    assert saved == report
    assert set(report["ratios"]) == {"append", "rehydrate_full", "rehydrate_snapshot"}
    assert all(r > 0 for r in report["ratios"].values())
    ours, theirs = report["figures"]["ours"], report["figures"]["eventsourcing"]
    assert report["ratios"]["append"] == pytest.approx(ours["append_per_s"] / theirs["append_per_s"], rel=0.01)


def test_orders_workload_has_the_retry_share_and_crashes_only_on_first_attempts():
    from course_lib.lab.bench import orders

    sends = orders.workload(5000, retry_share=0.3, crash_share=0.02, seed=3)
    assert sends == orders.workload(5000, retry_share=0.3, crash_share=0.02, seed=3)
    assert 0.27 < sum(s.retry for s in sends) / len(sends) < 0.33
    assert any(s.crash for s in sends) and not any(s.crash and s.retry for s in sends)
    firsts = {s.order: s for s in sends if not s.retry}
    assert all(s.key == firsts[s.order].key and s.body == firsts[s.order].body for s in sends if s.retry)


def test_small_orders_bench_over_http_loses_and_duplicates_nothing(tmp_path, clean_env):
    import shutil

    from course_lib.lab.bench import orders

    require_services()
    if shutil.which("redis-server") is None:
        pytest.skip("course bench orders restarts a private redis-server; the binary is not installed")
    clean_env.setenv("COURSE_REQUIRE_SERVICES", "1")
    report = orders.main(requests=300, clients=8, crash_share=0.05, out=tmp_path / "orders.json")
    assert json.loads((tmp_path / "orders.json").read_text()) == report
    figures = report["figures"]
    assert figures["requests"] >= 300
    assert figures["duplicate_orders"] == 0 and figures["lost_orders"] == 0
    assert figures["retries_with_a_different_body"] == 0 and figures["gave_up"] == 0
    assert figures["orders_in_database"] == report["workload"]["orders"]
    assert report["workload"]["redis_restarts"] == 1 and report["statuses"].get("502", 0) > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] and figures["rps"] > 0


def test_s3_bench_compares_both_sides_on_the_same_server(tmp_path, clean_env):
    from course_lib.lab.bench import s3

    clean_env.setenv("COURSE_BACKENDS", "embedded")
    report = s3.main(sizes_mib=(16,), repeat=1, out=tmp_path / "s3.json")
    assert json.loads((tmp_path / "s3.json").read_text()) == report
    size = report["sizes"]["16MiB"]
    assert size["ours_mb_per_s"] > 0 and size["transfer_manager_mb_per_s"] > 0
    assert size["ratio"] == pytest.approx(size["ours_mb_per_s"] / size["transfer_manager_mb_per_s"], rel=0.02)
    assert report["server"] == "moto server with S3's checksum checks (own process)"
    assert set(report["checks"]) == {"ours", "TransferManager"}
    assert {"client", "s3_server"} <= set(size["ours_cpu_s"]) and size["ours_cpu_s"]["client"] > 0
    if "signing_api" in size["ours_cpu_s"]:  # the API in its own process (a real Redis); else a thread of the client
        # TM never asks it: what it spends meanwhile is the idle server's housekeeping (0.01 s rounded, like a
        # small upload of ours can be), never more than ours.
        idle = size["transfer_manager_cpu_s"]["signing_api"]
        assert idle <= 0.02 and idle <= size["ours_cpu_s"]["signing_api"], "TM never asks it"
    assert all(ms > 0 for ms in report["checksums_per_part"].values())
