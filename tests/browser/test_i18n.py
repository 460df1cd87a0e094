"""Both languages in a browser: input methods, Chinese pages, axe-core, live region."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    REPLIES,
    STREAMING_WITH_TEXT,
    ask,
    new_chat,
    screenshot,
    send,
)

pytestmark = pytest.mark.browser


AXE = Path(__file__).parent / "vendor" / "axe.min.js"
USER_MESSAGES = 'article.message[data-role="user"]'

COMPOSE = """order => {
  const input = document.getElementById("composer-input");
  const composition = (type) =>
    input.dispatchEvent(new CompositionEvent(type, { bubbles: true, data: "你好" }));
  const enter = (composing) =>
    input.dispatchEvent(new KeyboardEvent("keydown", {
      key: "Enter", code: "Enter", bubbles: true, cancelable: true,
      isComposing: composing, keyCode: composing ? 229 : 13,
    }));
  input.value = "你好";
  composition("compositionstart");
  if (order === "chrome") {        // the Enter that picks the candidate, then the end
    enter(true);
    composition("compositionend");
  } else {                         // Safari: the end first, then a plain-looking Enter
    composition("compositionend");
    enter(false);
  }
}"""


@pytest.mark.parametrize("order", ["chrome", "safari"])
def test_enter_that_ends_a_composition_never_sends_and_the_next_one_does(page, order):
    new_chat(page)

    page.evaluate(COMPOSE, order)

    expect(page.locator("#composer-input")).to_have_value("你好")
    expect(page.locator("article.message")).to_have_count(0)
    page.locator("#composer-input").press("Enter")
    expect(page.locator(REPLIES).last).to_have_attribute("data-status", "complete")
    expect(page.locator(USER_MESSAGES)).to_have_count(1)
    expect(page.locator(USER_MESSAGES).first.locator(".message-text")).to_have_text(
        "你好"
    )


def test_a_browser_asking_for_chinese_gets_the_chat_in_chinese(contexts):
    page = contexts.new_page(locale="zh-CN")
    new_chat(page)

    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".empty-title")).to_have_text("今天我能帮你做什么？")
    reply = ask(page, "你好，世界 👋")
    expect(reply.locator(".message-html")).to_have_text("You said: 你好，世界 👋")
    expect(reply.locator(".stat-duration")).to_be_visible()
    expect(reply.locator(".copy-btn")).to_have_text("复制")
    screenshot(page, "chat-zh")


def test_the_switcher_changes_the_language_and_remembers_it(contexts):
    page = contexts.new_page()
    new_chat(page)
    page.locator("#language-select").select_option("zh-hans")
    page.locator(".language-submit").click()

    expect(page.locator("#new-chat-button")).to_have_text("新对话")
    page.goto("/")
    expect(page.locator(".empty-title")).to_have_text("今天我能帮你做什么？")
    page.locator("#language-select").select_option("en")
    page.locator(".language-submit").click()
    expect(page.locator("#new-chat-button")).to_have_text("New chat")


def test_a_finished_answer_is_announced_once_not_each_delta(page):
    new_chat(page)
    page.evaluate("""() => {
      window.announced = [];
      const live = document.getElementById("chat-status");
      new MutationObserver(() => {
        if (live.textContent) window.announced.push(live.textContent);
      }).observe(live, { childList: true, characterData: true, subtree: true });
    }""")

    reply = send(page, "!tokens 40 !delay 10")
    expect(reply).to_have_attribute("data-status", "complete")

    expect(page.locator("#chat-status")).to_have_text("Answer complete")
    announced = page.evaluate("window.announced")
    assert announced.count("Answer complete") == 1
    assert not any("tok" in text for text in announced)
    # The streaming text itself is in no live region.
    assert reply.evaluate("el => el.closest('[aria-live]') === null")


# -- axe-core ------------------------------------------------------------------


def serious_violations(page) -> list[str]:
    # A fading element measured mid-transition has a contrast it never rests at.
    page.wait_for_function(
        "!document.getAnimations().some(a => a instanceof CSSTransition)"
    )
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, { resultTypes: ['violations'] }))"
        ".violations.map(v => ({ id: v.id, impact: v.impact,"
        " targets: v.nodes.map(n => n.target.join(' ')) }))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['targets'][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_no_serious_accessibility_violation_on_any_page(
    contexts, upstream, locale, theme
):
    # bypass_csp: the injected axe script must run under the site's CSP.
    options = {"locale": locale, "color_scheme": theme, "bypass_csp": True}
    found = {}
    guest = contexts.new_page(logged_in=False, **options)
    for name, url in [("login", "/accounts/login/"), ("signup", "/accounts/signup/")]:
        guest.goto(url)
        found[name] = serious_violations(guest)

    page = contexts.new_page(**options)
    new_chat(page)
    found["empty chat"] = serious_violations(page)
    reply = send(page, "!tokens 400 !delay 20")
    page.wait_for_function(STREAMING_WITH_TEXT, arg=reply.element_handle())
    found["streaming"] = serious_violations(page)
    page.locator("#stop-button").click()
    expect(reply).to_have_attribute("data-status", "stopped")
    ask(page, "# A heading\n\nSome `code` and a [link](https://example.com).")
    page.reload()
    found["finished"] = serious_violations(page)
    upstream.script(fail_status=500)
    ask(page, "please fail", status="failed")
    expect(page.locator(".message-error").last).to_be_visible()
    found["error"] = serious_violations(page)
    page.locator("#share-button").click()
    page.locator("#share-create").click()
    page.wait_for_url(re.compile(r"/shared/"))
    found["shared links"] = serious_violations(page)
    shared = page.locator(".shared-link.is-new .shared-url").get_attribute("href")
    guest.goto(shared)
    expect(guest.locator(".message-html").first).to_be_visible()
    found["shared page"] = serious_violations(guest)

    assert {name: v for name, v in found.items() if v} == {}
