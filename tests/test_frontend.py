"""The React Query page in a real browser: every state a learner should see, and the rollback.

Debian's Chromium, driven by Playwright, against the course API serving the committed bundle at /app,
with the demo server's knobs (latency, injected failures, an empty list) set from Python. Screenshots of
each state go to build/screenshots/. CI installs Chromium, so there these tests run, never skip.
"""

from __future__ import annotations

import time

import httpx
import pytest

from course_lib import api, logs
from course_lib.api.tables import reset_tables
from course_lib.backends import settings
from course_lib.ui.posts import PostControls, seed_posts
from tests.api_helpers import backends_for
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, require_chromium


@pytest.fixture(scope="module")
def server():
    logs.discard()
    engine, redis_client = backends_for("embedded")
    reset_tables(engine)
    seed_posts(engine)
    controls = PostControls()
    running = api.start(api.create_app(engine, redis_client, post_controls=controls))
    yield running, controls
    running.stop()


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(server, browser):
    running, controls = server
    for key, value in PostControls().snapshot().items():
        setattr(controls, key, value)
    context = browser.new_context()
    tab = context.new_page()
    yield tab, running.url, controls
    context.close()


def shot(tab, name: str) -> None:
    folder = settings.current().build_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(folder / f"{name}.png"))


def test_the_list_renders(page):
    tab, url, _ = page
    tab.goto(f"{url}/app/")
    tab.get_by_text("Notes on idempotency keys #1", exact=True).wait_for()
    assert tab.locator("li").count() == 12
    tab.get_by_text("in sync").wait_for()
    shot(tab, "list")


def test_the_empty_state(page):
    tab, url, controls = page
    controls.empty = True
    tab.goto(f"{url}/app/")
    tab.get_by_test_id("empty").wait_for()
    assert tab.locator("li").count() == 0
    shot(tab, "empty")


def test_the_error_state_and_retry(page):
    tab, url, controls = page
    controls.fail_gets = 2  # the page retries once by itself, so both attempts must fail
    tab.goto(f"{url}/app/")
    tab.get_by_text("Could not load posts").wait_for()
    shot(tab, "error")
    tab.get_by_role("button", name="Retry").click()
    tab.get_by_text("Notes on idempotency keys #1", exact=True).wait_for()
    assert controls.fail_gets == 0


def test_the_optimistic_title_shows_before_the_server_answers(page):
    tab, url, controls = page
    tab.goto(f"{url}/app/")
    tab.get_by_text("Notes on retries and jitter #2", exact=True).wait_for()
    controls.latency_ms = 1500
    tab.get_by_role("button", name="edit 2").click()
    tab.get_by_label("new title 2").fill("Jitter, explained")
    clicked = time.monotonic()
    tab.get_by_role("button", name="save").click()
    title = tab.get_by_test_id("title-2")
    tab.wait_for_function("document.querySelector('[data-testid=title-2]').textContent === 'Jitter, explained'")
    shown_after = time.monotonic() - clicked
    assert shown_after < 1.0, f"the new title appeared after {shown_after:.2f} s, not before the 1.5 s server"
    assert "saving" in tab.get_by_test_id("sync").inner_text()
    shot(tab, "optimistic")
    tab.get_by_text("in sync").wait_for(timeout=10_000)
    assert title.inner_text() == "Jitter, explained"


def test_a_failing_save_rolls_back_and_never_leaves_the_optimistic_title(page):
    tab, url, controls = page
    tab.goto(f"{url}/app/")
    old = tab.get_by_test_id("title-3").inner_text()
    controls.latency_ms, controls.fail_puts = 800, 1
    tab.get_by_role("button", name="edit 3").click()
    tab.get_by_label("new title 3").fill("This save will fail")
    tab.get_by_role("button", name="save").click()
    tab.wait_for_function("document.querySelector('[data-testid=title-3]').textContent === 'This save will fail'")
    tab.get_by_test_id("rollback").wait_for(timeout=10_000)
    shot(tab, "rolled-back")
    assert "told to fail" in tab.get_by_test_id("rollback").inner_text()
    tab.get_by_text("in sync").wait_for(timeout=10_000)
    for _ in range(10):  # settled: from now on the old title, every time we look
        assert tab.get_by_test_id("title-3").inner_text() == old
        time.sleep(0.1)


def test_a_title_with_markup_is_shown_as_text_never_run(page):
    """A stored title like <img onerror=...> is text on the page: React escapes it, nothing executes."""
    tab, url, _ = page
    markup = "<img src=x onerror=\"window.__pwned = 1\">"
    renamed = httpx.put(f"{url}/api/posts/4", json={"title": markup})
    assert renamed.status_code == 200
    tab.goto(f"{url}/app/")
    title = tab.get_by_test_id("title-4")
    title.wait_for()
    assert title.inner_text() == markup
    assert title.locator("img").count() == 0 and tab.evaluate("window.__pwned === undefined")
    shot(tab, "markup-as-text")


def test_the_seeds_save_leaves_a_refused_title_on_screen_and_says_nothing(server, browser):
    """Notebook 08's first claim, in Chromium: the seed's fetch().then(r => r.json()) resolves on a 500, so
    onError never runs. The refused title stays on screen after the 500 and then vanishes, unexplained, when
    the list refetches; the fixed page puts the old title back at once and says why."""
    from course_lib.lab.browser import failed_save

    running, controls = server
    shots = settings.current().build_dir / "screenshots"
    seed = failed_save(running.url, controls, "seed", 5, "Refused, but kept", shots)
    assert seed.optimistic_shown and seed.after_500 == "Refused, but kept", "no rollback after the 500"
    assert seed.message is None, "and not a word about the failure"
    assert seed.after_settle == seed.old, "the refetch then takes the title away, silently"
    fixed = failed_save(running.url, controls, "fixed", 5, "Refused, rolled back", shots)
    assert fixed.optimistic_shown and fixed.after_500 == fixed.old, "onError put the old title back"
    assert fixed.message and "told to fail" in fixed.message


def test_an_injected_failure_is_for_requests_that_arrive_after_it(server):
    """A page in a frame (notebook 08's) can have a GET waiting out the latency when a cell injects failures:
    that GET must not use up a failure meant for the cell's own next requests."""
    import concurrent.futures

    running, controls = server
    controls.latency_ms = 800
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(httpx.get, running.url + "/api/posts", timeout=10)
        time.sleep(0.3)  # it has arrived and is waiting out the latency
        controls.latency_ms, controls.fail_gets = 0, 2
        assert waiting.result().status_code == 200
    assert [httpx.get(running.url + "/api/posts").status_code for _ in range(3)] == [503, 503, 200]
