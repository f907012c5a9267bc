"""The workshop hub as a process: `course hub` runs one for a room; the tests and `course bench hub` one each.

JupyterHub starts its own configurable-http-proxy and idle culler, and stops every learner's server when
it stops (its default `cleanup_servers`).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from course_lib.backends import settings
from course_lib.hub import config

START_TIMEOUT_S = 90


def _root() -> Path:
    root = settings.checkout_root()
    if root is None:
        raise RuntimeError("the hub runs from a clone of the course (deploy/hub/jupyterhub_config.py)")
    return root


def config_file() -> Path:
    return _root() / "deploy" / "hub" / "jupyterhub_config.py"


def hub_bin() -> Path:
    """build/hub/venv/bin (`make hub-setup`): the hub's environment, which every learner's server runs from."""
    folder = _root() / "build" / "hub" / "venv" / "bin"
    if not (folder / "jupyterhub").exists():
        raise RuntimeError(f"no hub environment in {folder.parent}: run `make hub-setup` first")
    unreachable = runnable_by_others(folder / "python")
    if unreachable:
        raise RuntimeError(f"learners' accounts cannot run {folder / 'python'}: {unreachable} is closed to other users "
                           "(rebuild build/hub/venv from a system Python: make hub-setup HUB_PYTHON=/usr/bin/python3)")
    return folder


def runnable_by_others(path: Path) -> Path | None:
    """The first folder or file on the way to `path` (symlinks followed) that other users cannot enter or run."""
    target = path.resolve()
    for part in (*reversed(target.parents), target):
        if not part.stat().st_mode & 0o001:
            return part
    return None


class Hub:
    """`jupyterhub -f deploy/hub/jupyterhub_config.py` with its state in `state`, on free ports unless given."""

    def __init__(self, state: Path, port: int | None = None, ip: str = "127.0.0.1",
                 instructors: tuple[str, ...] = ("instructor",), service_token: str | None = None,
                 idle_timeout_s: int = 3600, env: dict[str, str] | None = None) -> None:
        state.mkdir(parents=True, exist_ok=True)
        self.port = port or settings.free_port()
        self.url = f"http://{'127.0.0.1' if ip == '0.0.0.0' else ip}:{self.port}"
        self.log_path = state / "hub.log"
        variables = {config.STATE: str(state), config.IP: ip, config.PORT: str(self.port),
                     config.HUB_PORT: str(settings.free_port()), config.PROXY_API_PORT: str(settings.free_port()),
                     config.INSTRUCTORS: ",".join(instructors), config.IDLE_TIMEOUT: str(idle_timeout_s),
                     **({config.SERVICE_TOKEN: service_token} if service_token else {})}
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(hub_bin() / "jupyterhub"), "-f", str(config_file())], cwd=state,
            env={**os.environ, **variables, **(env or {})}, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/hub/api", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the hub did not answer on {self.url} within {START_TIMEOUT_S} s; its log: "
                           f"{self.log_path}\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM: JupyterHub stops the learners' servers and its proxy, then exits."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
