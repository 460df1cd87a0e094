"""No page breaks the Content-Security-Policy, the admin's included.

Chromium reports each blocked script, style, image or connection as a
`securitypolicyviolation` event and a console message. A listener installed before
any page script runs records the events in the page; the test reads them, and every
console message that names the policy, after each page settles.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ask, new_chat, wait_connected
from tests.hostile_corpus import SAMPLE_RICH_MARKDOWN
from tests.servers import manage

pytestmark = pytest.mark.browser

STAFF, STAFF_PASSWORD = "root", "a-long-staff-password-9"

# Runs in every page before its own scripts; Playwright's init scripts are not
# subject to the page's policy.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || document.location.pathname}:${event.lineNumber}`
  );
  // A count a locator can wait on (wait_for_function would need eval).
  document.documentElement.dataset.cspViolations = window.cspViolations.length;
});
"""


class Violations:
    """CSP violations of a context's pages: the events, and the console's reports."""

    def __init__(self, context):
        self.console: list[str] = []
        context.add_init_script(RECORD_VIOLATIONS)
        context.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def of(self, page) -> list[str]:
        """Everything reported so far by the page as loaded, and by the console."""
        return page.evaluate("window.cspViolations") + self.console

    def on(self, page, path: str) -> list[str]:
        """Open `path`, let it settle, and return what it reported."""
        page.goto(path)
        page.wait_for_load_state("networkidle")
        return self.of(page)


def watched(contexts, **options):
    context = contexts.new_context(**options)
    return context, Violations(context)


@pytest.fixture(scope="module")
def staff_user(server_env):
    manage(
        server_env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_superuser({STAFF!r}, "
        f"password={STAFF_PASSWORD!r})",
    )
    return STAFF


def test_the_watcher_sees_an_inline_script_the_policy_blocks(contexts):
    # Without this the other tests could pass because nothing was listening.
    context, violations = watched(contexts, logged_in=False)
    page = context.new_page()
    assert violations.on(page, "/accounts/login/") == []

    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            """() => {
              const s = document.createElement("script");
              s.textContent = "window.ranInline = true";
              document.head.append(s);
            }"""
        )
    expect(page.locator("html")).to_have_attribute("data-csp-violations", "1")

    assert page.evaluate("window.ranInline") is None
    assert "script-src" in violations.of(page)[0]


def test_the_login_and_signup_pages_break_no_rule(contexts):
    context, violations = watched(contexts, logged_in=False)
    page = context.new_page()

    assert violations.on(page, "/accounts/login/") == []
    assert violations.on(page, "/accounts/signup/") == []


def test_the_chat_pages_break_no_rule_and_still_work(contexts):
    context, violations = watched(
        contexts, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    assert violations.on(page, "/") == []

    # The page script (ES modules) runs and its websocket connects: 'self' in
    # connect-src covers ws: to this host in Chromium.
    conversation_id = new_chat(page)
    assert violations.of(page) == []
    reply = ask(page, "!text " + SAMPLE_RICH_MARKDOWN)
    block = reply.locator(".message-html div.codehilite").first
    block.locator("button.code-copy").click()
    expect(block.locator("button.code-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").startswith("def by_length")
    assert violations.of(page) == []

    # The stored answer, as a page load renders it.
    assert violations.on(page, f"/c/{conversation_id}/") == []
    wait_connected(page)
    expect(page.locator(".message-html div.codehilite")).to_have_count(1)
    assert violations.of(page) == []


def test_the_admin_pages_break_no_rule(contexts, staff_user):
    # Alice's answer with code, for the transcript and the usage chart.
    alice = contexts.new_page()
    conversation_id = new_chat(alice)
    ask(alice, "!text " + SAMPLE_RICH_MARKDOWN)

    context, violations = watched(contexts, logged_in=False)
    page = context.new_page()
    assert violations.on(page, "/admin/login/") == []
    page.locator("#id_username").fill(staff_user)
    page.locator("#id_password").fill(STAFF_PASSWORD)
    page.locator("input[type=submit]").click()
    expect(page.locator("#site-name")).to_be_visible()

    transcript = f"/admin/chat/conversation/{conversation_id}/change/"
    for path in [
        "/admin/",
        "/admin/chat/conversation/",
        "/admin/chat/conversation/?q=sorted",
        "/admin/chat/conversation/usage/",
        transcript,
    ]:
        assert violations.on(page, path) == [], path

    # Flag the conversation from the transcript (a form post and a redirect back),
    # then the flag queue lists it.
    page.locator("div.review-flag-form input[type=submit]").click()
    expect(page.locator(".review-flags li.open")).to_have_count(1)
    assert violations.on(page, "/admin/chat/flag/?state=open") == []
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assert violations.of(page) == []
