"""The `course` command as a user runs it: exit codes, messages without tracebacks, lab answering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_lib.backends import settings

COURSE = [sys.executable, "-m", "course_lib.cli"]


def _course(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")} | env
    return subprocess.run([*COURSE, *args], capture_output=True, text=True, env=full_env, timeout=120)


@pytest.mark.parametrize(("var", "value"), [
    ("COURSE_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:1/x"),
    ("COURSE_REDIS_URL", "redis://127.0.0.1:1"),
])
def test_doctor_names_the_bad_variable_and_exits_non_zero(var, value):
    done = _course("doctor", COURSE_REQUIRE_SERVICES="1", **{var: value})
    assert done.returncode != 0
    assert var in done.stderr and "Fix:" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_doctor_embedded_prints_the_table_and_exits_zero(tmp_path):
    done = _course("doctor", COURSE_BACKENDS="embedded", COURSE_BUILD_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    for backend in ("SQL", "Redis", "S3"):
        assert any(line.startswith(backend) and "embedded" in line for line in done.stdout.splitlines())
    assert "embedded fallbacks for everything" in done.stdout


def _notebook(path: Path, source: str) -> None:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)


def test_run_executes_notebooks_reports_times_and_fails_on_any_error(tmp_path):
    _notebook(tmp_path / "01_ok.ipynb", "print(6 * 7)")
    _notebook(tmp_path / "02_broken.ipynb", "assert 1 == 2, 'claim no longer true'")
    done = _course("run", "--notebooks", str(tmp_path), COURSE_BUILD_DIR=str(tmp_path / "build"))
    assert done.returncode == 1
    assert "01_ok.ipynb" in done.stdout and "02_broken.ipynb" in done.stdout and "FAILED" in done.stdout
    executed = nbformat.read(tmp_path / "build" / "executed" / "01_ok.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "42"


def test_lab_starts_and_answers_on_loopback(tmp_path):
    port = settings.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env |= {"JUPYTER_TOKEN": "course-test-token", "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
            "HOME": os.environ.get("HOME", str(tmp_path))}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([*COURSE, "lab", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/lab?token=course-test-token"
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                status = urllib.request.urlopen(url, timeout=2).status
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.5)
        assert status == 200
    finally:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
    assert "No browser here" in output


def test_serve_runs_the_api_in_the_foreground_on_embedded_backends(tmp_path):
    port = settings.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env |= {"COURSE_BACKENDS": "embedded", "COURSE_BUILD_DIR": str(tmp_path / "build")}
    proc = subprocess.Popen([*COURSE, "serve", "--fresh", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline, token = time.monotonic() + 60, None
        while time.monotonic() < deadline and token is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/tokens", method="POST", headers={"Content-Type": "application/json"},
                    data=json.dumps({"email": "ada@example.com", "password": "analytical-engine-1843"}).encode())
                token = json.loads(urllib.request.urlopen(request, timeout=2).read())["token"]
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.3)
        me = urllib.request.Request(f"http://127.0.0.1:{port}/api/me", headers={"Authorization": f"Bearer {token}"})
        assert json.loads(urllib.request.urlopen(me, timeout=5).read())["email"] == "ada@example.com"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=15)
    assert f"course API on http://127.0.0.1:{port}" in output
    assert token not in output and token.split("|")[1] not in output  # its request log lines carry no token


def test_serve_refuses_a_lock_lease_longer_than_the_claim_lease(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env |= {"COURSE_BACKENDS": "embedded", "COURSE_BUILD_DIR": str(tmp_path / "build")}
    done = subprocess.run([*COURSE, "serve", "--claim-lease-ms", "1000", "--lock-lease-ms", "5000"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "shorter than the claim" in done.stderr and "Traceback" not in done.stderr
