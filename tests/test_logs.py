"""JSON logs: one object per line, secrets redacted at any depth."""

from __future__ import annotations

from course_lib import logs


def test_log_lines_are_json_with_context():
    with logs.capture() as lines:
        logs.get_logger("orders", request_id="r-1").info("order_created", status=201, latency_ms=3.2)
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "order_created" and line["request_id"] == "r-1" and line["logger"] == "orders"
    assert line["status"] == 201 and line["level"] == "info" and "timestamp" in line


def test_secrets_are_redacted_at_any_depth():
    with logs.capture() as lines:
        logs.get_logger("auth").info(
            "login", password="hunter2", api_key="k-123", headers={"Authorization": "Bearer abc", "Accept": "json"},
            tokens=[{"plain_token": "1|secret"}], user_id=7,
        )
    text = repr(lines)
    for secret in ("hunter2", "k-123", "Bearer abc", "1|secret"):
        assert secret not in text
    assert lines[0]["headers"]["Accept"] == "json" and lines[0]["user_id"] == 7
    assert lines[0]["password"] == logs.REDACTED
