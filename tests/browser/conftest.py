"""Fixtures for the page in a real browser: the site, a fake upstream, Chromium.

The site runs as a real server process (chatsite.serve) on its own database: a
temporary SQLite file, or, when DATABASE_URL names PostgreSQL, a database of its own
on that server (created here and dropped at the end). REDIS_URL, when set, is
passed through with a prefix of its own, so the site talks to Redis as in production.
"""

import os
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.servers import BASE_DIR, SiteServer, manage, site_env
from tests.services import redis_clients, unavailable
from tests.upstream import FakeUpstream

NO_PLAYWRIGHT = "playwright is not installed (pip install -e .[browser])"
try:
    from playwright.sync_api import expect
except ImportError:
    # The test modules import `expect` from here, so collecting them needs no
    # Playwright; the `browser` fixture skips them (fails under CI=true).
    HAVE_PLAYWRIGHT = False

    def expect(*args, **kwargs):
        unavailable(NO_PLAYWRIGHT)

else:
    HAVE_PLAYWRIGHT = True

SCREENSHOTS = BASE_DIR / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME = "alice"
PASSWORD = "a-long-browser-password-7"
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


@pytest.fixture(autouse=True)
def loop_resources_closed():
    """Nothing to close here: the site runs in server processes, and Playwright's
    own loop runs in this thread (the suite's async fixture of this name would
    need one of its own)."""
    yield


@pytest.fixture(scope="package")
def browser_database(tmp_path_factory):
    """A DATABASE_URL of the browser server's own, migrated, with Alice in it."""
    configured = os.environ.get("DATABASE_URL", "")
    if configured.split("://", 1)[0] not in POSTGRES_SCHEMES:
        yield f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'site.sqlite3'}"
        return
    import psycopg

    name = f"chatsite_browser_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    parts = urlsplit(configured)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path="/" + name))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="package")
def browser_upstream():
    """The fake OpenAI server the browser server streams from."""
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="package")
def server_env(browser_database, browser_upstream):
    """The environment of a server process of the site, database migrated."""
    env = site_env(
        upstream_url=browser_upstream.base_url,
        SECRET_KEY="browser-tests-" + uuid.uuid4().hex,
        DATABASE_URL=browser_database,
        CHAT_REQUEST_TIMEOUT_S=2,
        # One logged-in user plays every test's person: no per-minute or
        # concurrency limit (the quota stays, for the usage line).
        CHAT_MESSAGES_PER_MINUTE=0,
        CHAT_CONCURRENT_STREAMS=0,
    )
    if os.environ.get("REDIS_URL"):
        prefix = f"browser{os.getpid()}"
        env["REDIS_URL"] = os.environ["REDIS_URL"]
        env["CHANNEL_LAYER_PREFIX"] = prefix
        env["CACHE_KEY_PREFIX"] = prefix
        if os.environ.get("CHANNEL_LAYER_BACKEND"):
            env["CHANNEL_LAYER_BACKEND"] = os.environ["CHANNEL_LAYER_BACKEND"]
    manage(env, "migrate", "--no-input")
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})",
    )
    yield env
    if env.get("REDIS_URL"):
        for client in redis_clients(env):
            keys = list(client.scan_iter(match=env["CHANNEL_LAYER_PREFIX"] + "*"))
            if keys:
                client.delete(*keys)
            client.close()


@pytest.fixture(scope="package")
def live_site(server_env, tmp_path_factory):
    """The site, served for the whole browser package."""
    server = SiteServer("browser", server_env, tmp_path_factory.mktemp("server"))
    server.start()
    server.wait_healthy()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser():
    """Headless Chromium, launched once (a fresh user-data dir)."""
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM}")
    if not HAVE_PLAYWRIGHT:
        unavailable(NO_PLAYWRIGHT)
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=10_000)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def logged_in_state(browser, live_site, tmp_path_factory):
    """Alice's cookies after logging in through the form once."""
    context = browser.new_context(base_url=live_site.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(USERNAME)
    page.locator("#id_password").fill(PASSWORD)
    page.locator(".auth-form button[type=submit]").click()
    page.wait_for_url(f"{live_site.url}/")
    path = tmp_path_factory.mktemp("state") / "alice.json"
    context.storage_state(path=str(path))
    context.close()
    return str(path)


@pytest.fixture
def upstream(browser_upstream):
    """The browser server's upstream, with an empty script queue."""
    browser_upstream.reset()
    return browser_upstream


class Contexts:
    """Opens browser contexts for one test; watches every page for script errors."""

    def __init__(self, browser, live_site, state: str):
        self.browser = browser
        self.live_site = live_site
        self.state = state
        self.contexts = []
        self.pages = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        self.accept_dialogs = False

    def new_context(self, *, logged_in: bool = True, **options):
        options.setdefault("viewport", {"width": 1280, "height": 860})
        context = self.browser.new_context(
            base_url=options.pop("base_url", self.live_site.url),
            storage_state=self.state if logged_in else None,
            **options,
        )
        context.set_default_timeout(10_000)
        context.on("page", self._watch)
        self.contexts.append(context)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    def _watch(self, page) -> None:
        self.pages.append(page)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on(
            "console",
            lambda m: m.type == "error" and self.console_errors.append(m.text),
        )

        def on_dialog(dialog):
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            if self.accept_dialogs:
                dialog.accept()
            else:
                dialog.dismiss()

        page.on("dialog", on_dialog)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def contexts(browser, live_site, logged_in_state, request):
    """Fresh browser contexts (Alice logged in unless asked otherwise)."""
    opened = Contexts(browser, live_site, logged_in_state)
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for i, page in enumerate(opened.pages):
            if not page.is_closed():
                page.screenshot(path=str(SCREENSHOTS / f"FAILED-{name}-{i}.png"))
    opened.close()
    assert not opened.page_errors, f"uncaught errors in the page: {opened.page_errors}"


@pytest.fixture
def page(contexts):
    """One page of a logged-in desktop context."""
    return contexts.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report


def screenshot(page, name: str, **options) -> None:
    """Keep a picture of a state under test-artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), **options)


# -- driving the page -------------------------------------------------------

REPLIES = 'article.message[data-role="assistant"]'
STREAMING_WITH_TEXT = """reply => reply.dataset.status === 'streaming'
    && reply.querySelector('.message-text').textContent.length > 0"""


def tokens(n: int) -> str:
    """The fake upstream's reply to `!tokens N`."""
    return " ".join(f"tok{i}" for i in range(1, n + 1))


# Waits are locator assertions, never wait_for_function: Playwright compiles its
# predicate with eval inside the page, which the site's Content-Security-Policy blocks.
def wait_connected(page) -> None:
    expect(page.locator("body")).to_have_attribute("data-socket", "open")


def wait_streaming_with_text(reply) -> None:
    """Wait until the reply is still streaming and already shows some text."""
    streaming = reply.and_(reply.page.locator('[data-status="streaming"]'))
    with_text = streaming.locator(".message-text").filter(has_text=re.compile(r"\S"))
    expect(with_text).to_have_count(1)


def new_chat(page) -> int:
    """Open a new, empty conversation and wait for its socket."""
    page.goto("/")
    page.locator("#new-chat-button").click()
    page.wait_for_url(re.compile(r"/c/\d+/$"))
    wait_connected(page)
    return int(re.search(r"/c/(\d+)/$", page.url)[1])


def send(page, text: str):
    """Type a message and press Enter; return the locator of the reply to it."""
    before = page.locator(REPLIES).count()
    page.locator("#composer-input").fill(text)
    page.locator("#composer-input").press("Enter")
    expect(page.locator(REPLIES)).to_have_count(before + 1)
    return page.locator(REPLIES).nth(before)


def ask(page, text: str, status: str = "complete"):
    """Send a message and wait for its reply to end with this status."""
    reply = send(page, text)
    expect(reply).to_have_attribute("data-status", status)
    return reply


def client_text(page, reply) -> str:
    """The text the page's client holds for a reply (what offsets were applied to)."""
    message_id = int(reply.get_attribute("data-message-id"))
    return page.evaluate("id => window.ChatClient.messages.get(id).text", message_id)


def reload_mid_reply_shows_the_whole_answer(page) -> None:
    """Reload while an answer streams: the page shows all of it, once."""
    new_chat(page)
    reply = send(page, "!tokens 80 !delay 25")
    wait_streaming_with_text(reply)
    page.reload()
    wait_connected(page)
    reply = page.locator(REPLIES).last
    expect(reply).to_have_attribute("data-status", "complete")
    assert client_text(page, reply) == tokens(80)
    expect(reply.locator(".message-html")).to_have_text(tokens(80))
    expect(page.locator(REPLIES)).to_have_count(1)
    expect(page.locator('article.message[data-role="user"]')).to_have_count(1)
