"""Talking to a running hub the way a room does: learners log in through the login form; the course's
admin service (COURSE_HUB_SERVICE_TOKEN) starts and stops their servers through the REST API."""

from __future__ import annotations

import re
import time

import httpx

SPAWN_TIMEOUT_S = 180


class HubError(RuntimeError):
    pass


class HubClient:
    def __init__(self, url: str, service_token: str) -> None:
        self.url = url
        self.api = httpx.Client(base_url=f"{url}/hub/api", timeout=60,
                                headers={"Authorization": f"token {service_token}"})
        self.token = service_token

    def login(self, name: str, password: str) -> httpx.Client:
        """The login form, as a browser posts it (with its XSRF token); the client keeps the session cookie.
        On first use this claims `name` with `password`."""
        browser = httpx.Client(base_url=self.url, timeout=60, follow_redirects=False)
        page = browser.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        answer = browser.post("/hub/login?next=", data={"username": name, "password": password,
                                                        **({"_xsrf": xsrf.group(1)} if xsrf else {})})
        if answer.status_code != 302:
            browser.close()
            raise HubError(f"login as {name!r} answered {answer.status_code}, not a redirect: wrong password?")
        return browser

    def start(self, name: str) -> str:
        """Start `name`'s server and wait until it answers; its URL (which the service token may use)."""
        answer = self.api.post(f"/users/{name}/server")
        if answer.status_code not in (201, 202, 400):  # 400: already running
            raise HubError(f"starting {name}'s server answered {answer.status_code}: {answer.text[:300]}")
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while time.monotonic() < deadline:
            server = self.api.get(f"/users/{name}").json().get("servers", {}).get("")
            if server and server.get("ready"):
                return f"{self.url}{server['url']}"
            time.sleep(0.5)
        raise HubError(f"{name}'s server was not ready within {SPAWN_TIMEOUT_S} s")

    def stop(self, name: str) -> None:
        self.api.delete(f"/users/{name}/server")

    def delete(self, name: str) -> None:
        """Forget the user in the hub (their server stops first)."""
        self.stop(name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.api.delete(f"/users/{name}").status_code == 400:
            time.sleep(0.5)  # still stopping

    def close(self) -> None:
        self.api.close()
