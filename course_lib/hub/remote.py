"""Run a notebook in a learner's own Jupyter server, through its REST API and kernel websocket, as
JupyterLab's Run All does: one execute_request per code cell, in order, each waiting for its reply.

Used by the hub's tests and `course bench hub`: what runs is the learner's kernel, as the learner's
system user, with the environment the hub gave it, on the shared services.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

CELL_TIMEOUT_S = 300


@dataclass
class NotebookRun:
    path: str
    cells: int = 0
    failed: list[str] = field(default_factory=list)  # "cell N: Error: message"
    seconds: float = 0.0


def _message(session: str, msg_type: str, content: dict) -> dict:
    return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session, "username": "",
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "content": content, "channel": "shell", "buffers": []}


class Kernel:
    """A new kernel in the server at `server_url`, opened for `path` (its working folder is the path's)."""

    def __init__(self, server_url: str, token: str, path: str) -> None:
        self.base, self.path = server_url.rstrip("/"), path
        self.headers = {"Authorization": f"token {token}"}
        self.session_id = uuid.uuid4().hex

    async def __aenter__(self) -> Kernel:
        self.http = httpx.AsyncClient(base_url=self.base, headers=self.headers, timeout=60)
        answer = await self.http.post("/api/sessions", json={"path": self.path, "type": "notebook", "name": self.path,
                                                             "kernel": {"name": "python3"}})
        self.session = answer.raise_for_status().json()
        ws_url = self.base.replace("http", "ws", 1) + f"/api/kernels/{self.session['kernel']['id']}/channels"
        self.socket = await websocket_connect(HTTPRequest(f"{ws_url}?session_id={self.session_id}",
                                                          headers=self.headers))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.socket.close()
        await self.http.delete(f"/api/sessions/{self.session['id']}")
        await self.http.aclose()

    async def execute(self, code: str, timeout_s: float = CELL_TIMEOUT_S) -> tuple[str | None, str]:
        """(None, stdout) when the code ran; (its error as one line, stdout) when it raised."""
        request = _message(self.session_id, "execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
            "stop_on_error": True})
        await self.socket.write_message(json.dumps(request))
        deadline, stdout = time.monotonic() + timeout_s, list[str]()
        while True:
            raw = await asyncio.wait_for(self.socket.read_message(), timeout=max(deadline - time.monotonic(), 0.1))
            if raw is None:
                return "the kernel's websocket closed", "".join(stdout)
            reply = json.loads(raw)
            if reply.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                continue
            if reply["msg_type"] == "stream" and reply["content"].get("name") == "stdout":
                stdout.append(reply["content"]["text"])
            elif reply["msg_type"] == "execute_reply":
                content = reply["content"]
                error = None if content["status"] == "ok" else f"{content.get('ename')}: {content.get('evalue')}"[:500]
                return error, "".join(stdout)


async def run_notebook(server_url: str, token: str, path: str, cell_timeout_s: float = CELL_TIMEOUT_S) -> NotebookRun:
    """Execute the notebook at `path` (relative to the server's root) in a new kernel; stops at the first
    failing cell, as Run All does."""
    run = NotebookRun(path)
    async with httpx.AsyncClient(base_url=server_url.rstrip("/"), headers={"Authorization": f"token {token}"},
                                 timeout=60) as http:
        answer = await http.get(f"/api/contents/{quote(path)}", params={"content": 1})
        cells = answer.raise_for_status().json()["content"]["cells"]
    started = time.perf_counter()
    async with Kernel(server_url, token, path) as kernel:
        for index, cell in enumerate(cells):
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or not source.strip():
                continue
            run.cells += 1
            error, _ = await kernel.execute(source, cell_timeout_s)
            if error:
                run.failed.append(f"cell {index}: {error}")
                break
    run.seconds = round(time.perf_counter() - started, 2)
    return run


async def run_code(server_url: str, token: str, code: str, path: str = "notebooks/probe.ipynb") -> str:
    """Run `code` in a new kernel of that server; its stdout (raises if the code raised)."""
    async with Kernel(server_url, token, path) as kernel:
        error, stdout = await kernel.execute(code)
    if error:
        raise RuntimeError(f"{error}\n{stdout}")
    return stdout
