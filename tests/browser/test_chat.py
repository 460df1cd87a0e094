"""The chat page in headless Chromium, against a real server process."""

import re

import pytest

from tests.browser.conftest import (
    PASSWORD,
    REPLIES,
    ask,
    client_text,
    expect,
    new_chat,
    reload_mid_reply_shows_the_whole_answer,
    screenshot,
    send,
    tokens,
    wait_connected,
    wait_streaming_with_text,
)
from tests.hostile_corpus import SAMPLE_RICH_MARKDOWN

pytestmark = pytest.mark.browser


def test_someone_can_sign_up_log_out_and_log_in_again(contexts, live_site):
    page = contexts.new_page(logged_in=False)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.goto("/accounts/signup/")
    page.locator("#id_username").fill("bob")
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_site.url}/")
    expect(page.locator("#empty-state")).to_be_visible()
    expect(page.locator(".user-name")).to_have_text("bob")

    page.locator("#logout-button").click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    page.locator("#id_username").fill("bob")
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_site.url}/")
    expect(page.locator(".user-name")).to_have_text("bob")

    # The first message on the home page starts a conversation and is sent there.
    page.locator("#composer-input").fill("hello from bob")
    page.locator("#composer-input").press("Enter")
    page.wait_for_url(re.compile(r"/c/\d+/$"))
    reply = page.locator(REPLIES).last
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".message-html")).to_have_text("You said: hello from bob")
    expect(page.locator('article.message[data-role="user"]')).to_have_count(1)


def test_the_empty_state_offers_example_prompts(page):
    new_chat(page)
    expect(page.locator("#empty-state")).to_be_visible()
    suggestions = page.locator("#empty-state .suggestion")
    expect(suggestions).to_have_count(4)
    screenshot(page, "empty")
    suggestions.first.click()
    expect(page.locator("#composer-input")).to_have_value(re.compile("WebSockets"))
    expect(page.locator("#composer-input")).to_be_focused()


def test_text_appears_while_the_reply_is_still_streaming(page):
    new_chat(page)
    reply = send(page, "!tokens 60 !delay 30")
    wait_streaming_with_text(reply)
    expect(page.locator("#stop-button")).to_be_visible()
    expect(page.locator("#send-button")).to_be_hidden()
    expect(reply).to_have_attribute("aria-busy", "true")
    screenshot(page, "streaming")

    expect(reply).to_have_attribute("data-status", "complete")
    assert client_text(page, reply) == tokens(60)
    expect(reply.locator(".message-html")).to_have_text(tokens(60))
    expect(page.locator("#send-button")).to_be_visible()
    expect(page.locator("#chat-status")).to_have_text("Answer complete")


def test_rendered_markdown_replaces_the_raw_text_when_the_reply_completes(
    contexts,
):
    context = contexts.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    new_chat(page)
    long_line = "x = " + " + ".join(["1"] * 200)
    markdown = SAMPLE_RICH_MARKDOWN + f"\n```python\n{long_line}\n```\n"
    reply = ask(page, "!text " + markdown)

    html = reply.locator(".message-html")
    expect(html).to_be_visible()
    expect(reply.locator(".message-text")).to_be_hidden()
    expect(html.locator("h1")).to_have_text("Sorting in Python")
    expect(html.locator(".table-wrap table")).to_have_count(1)
    expect(html.locator("table td").first).to_have_text("sorted")
    block = html.locator("div.codehilite").first
    expect(block.locator(".code-header .code-lang")).to_have_text("python")
    expect(block.locator("span.k").first).to_have_text("def")
    expect(html.locator("blockquote")).to_contain_text("Both are stable")
    assert "**words**" not in html.inner_text()

    block.locator("button.code-copy").click()
    expect(block.locator("button.code-copy")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("def by_length(words: list[str]) -> list[str]:")
    assert copied.endswith('print(by_length(["pear", "fig", "banana"]))')

    # A long line scrolls inside its block; the page itself does not scroll sideways.
    pre = html.locator("div.codehilite pre").last
    assert pre.evaluate("el => el.scrollWidth > el.clientWidth")
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    # Model name, tokens and timing on the answer; a timestamp on each message.
    expect(reply.locator(".message-author")).to_have_text("test-model")
    expect(reply.locator(".stat-tokens")).to_have_text(re.compile(r"\d+ → \d+ tokens"))
    expect(reply.locator(".stat-ttft")).to_have_text(re.compile("to first token"))
    expect(reply.locator(".stat-duration")).to_be_visible()
    expect(reply.locator("time.message-time")).to_have_text(re.compile(r"\d"))
    expect(reply.locator("time.message-time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-")
    )
    block.scroll_into_view_if_needed()
    screenshot(page, "complete")


def test_stop_ends_the_reply_and_keeps_its_text(page):
    new_chat(page)
    reply = send(page, "!tokens 300 !delay 20")
    wait_streaming_with_text(reply)
    page.locator("#stop-button").click()
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".message-badge")).to_have_text("Stopped")
    kept = client_text(page, reply)
    assert kept and tokens(300).startswith(kept) and kept != tokens(300)

    page.reload()
    wait_connected(page)
    stored = page.locator(REPLIES).last
    expect(stored).to_have_attribute("data-status", "stopped")
    assert client_text(page, stored) == kept


def test_a_reload_mid_reply_shows_the_whole_answer(page):
    reload_mid_reply_shows_the_whole_answer(page)


def test_two_pages_on_one_conversation_both_follow_the_stream(contexts):
    context = contexts.new_context()
    first = context.new_page()
    new_chat(first)
    second = context.new_page()
    second.goto(first.url)
    wait_connected(second)

    reply = send(first, "!tokens 80 !delay 20")
    other = second.locator(REPLIES).last
    expect(other).to_have_count(1)
    wait_streaming_with_text(other)
    expect(second.locator("#stop-button")).to_be_visible()

    for page, answer in ((first, reply), (second, other)):
        expect(answer).to_have_attribute("data-status", "complete")
        assert client_text(page, answer) == tokens(80)
        expect(page.locator("article.message")).to_have_count(2)
    user_message = second.locator('article.message[data-role="user"] .message-text')
    expect(user_message).to_have_text("!tokens 80 !delay 20")


def test_a_failed_reply_shows_its_error_and_a_retry_that_works(page, upstream):
    new_chat(page)
    upstream.script(fail_status=500)
    reply = ask(page, "please answer", status="failed")
    expect(reply.locator(".message-error")).to_be_visible()
    expect(reply.locator(".message-error-text")).not_to_be_empty()
    expect(reply.locator(".message-badge")).to_have_text("Failed")
    expect(reply.locator(".retry-btn")).to_be_visible()
    screenshot(page, "error")

    reply.locator(".retry-btn").click()
    retried = page.locator(REPLIES).last
    expect(retried).to_have_attribute("data-status", "complete")
    expect(retried.locator(".message-html")).to_have_text("You said: please answer")
    expect(retried.locator(".message-error")).to_be_hidden()
    # The failed answer is kept as the first version; the retry is shown.
    expect(page.locator(REPLIES)).to_have_count(1)
    expect(retried.locator(".branch-count")).to_have_text("2 / 2")
    screenshot(page, "retried")


def test_the_keyboard_sends_breaks_lines_and_stops(page):
    new_chat(page)
    composer = page.locator("#composer-input")
    composer.focus()
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    expect(composer).to_have_value("line one\nline two")
    expect(page.locator("article.message")).to_have_count(0)
    page.keyboard.press("Enter")
    reply = page.locator(REPLIES).last
    expect(reply).to_have_attribute("data-status", "complete")
    expect(
        page.locator('article.message[data-role="user"] .message-text')
    ).to_have_text("line one\nline two")
    expect(composer).to_have_value("")

    page.keyboard.type("!tokens 300 !delay 20")
    page.keyboard.press("Enter")
    reply = page.locator(REPLIES).nth(1)
    wait_streaming_with_text(reply)
    page.keyboard.press("Escape")
    expect(reply).to_have_attribute("data-status", "stopped")

    # Focus is visible on the controls a keyboard reaches.
    page.keyboard.press("Shift+Tab")
    focused = page.evaluate_handle("document.activeElement")
    screenshot(page, "keyboard-focus")
    outline = focused.evaluate("el => getComputedStyle(el).outlineStyle")
    shadow = focused.evaluate("el => getComputedStyle(el).boxShadow")
    assert outline != "none" or shadow != "none"


def test_a_narrow_phone_screen_hides_the_sidebar_and_still_chats(contexts):
    page = contexts.new_page(
        viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    page.goto("/")
    sidebar = page.locator("#sidebar")
    toggle = page.locator("#sidebar-toggle")
    expect(sidebar).not_to_be_in_viewport()
    expect(toggle).to_be_visible()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(sidebar).to_be_in_viewport()
    screenshot(page, "mobile-sidebar")
    page.locator("#sidebar-close").click()
    expect(sidebar).not_to_be_in_viewport()
    toggle.click()
    page.locator("#new-chat-button").click()
    page.wait_for_url(re.compile(r"/c/\d+/$"))
    wait_connected(page)

    expect(sidebar).not_to_be_in_viewport()
    expect(page.locator("#composer-input")).to_be_in_viewport()
    reply = ask(page, "!text " + SAMPLE_RICH_MARKDOWN)
    expect(reply.locator(".message-html table")).to_be_visible()
    assert page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    expect(page.locator("#composer-input")).to_be_in_viewport()
    expect(page.locator("#send-button")).to_be_in_viewport()
    screenshot(page, "mobile")


def test_a_conversation_can_be_renamed_and_deleted_after_confirming(contexts):
    page = contexts.new_page()
    conversation_id = new_chat(page)
    ask(page, "a first message")
    item = page.locator(
        f'#conversation-list [data-conversation-id="{conversation_id}"]'
    )
    expect(item).to_have_text("a first message")

    title = page.locator("#title-input")
    title.fill("Renamed by a test")
    title.press("Enter")
    expect(item).to_have_text("Renamed by a test")
    expect(page).to_have_title(re.compile("^Renamed by a test"))
    page.reload()
    expect(title).to_have_value("Renamed by a test")

    page.locator("#delete-button").click()  # the confirmation is dismissed
    assert contexts.dialogs == [
        "confirm: Delete this conversation? This can't be undone."
    ]
    expect(page).to_have_url(re.compile(rf"/c/{conversation_id}/$"))
    contexts.accept_dialogs = True
    page.locator("#delete-button").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator(f'[data-conversation-id="{conversation_id}"]')).to_have_count(0)
    assert page.goto(f"/c/{conversation_id}/").status == 404


def test_the_dark_theme_follows_the_system(contexts):
    page = contexts.new_page(color_scheme="dark")
    new_chat(page)
    ask(page, "!text " + SAMPLE_RICH_MARKDOWN)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(n) for n in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 3 * 80, background
    screenshot(page, "dark")


def test_the_usage_line_shows_tokens_today_against_the_quota_after_each_answer(page):
    new_chat(page)
    usage = page.locator("#usage-today")
    expect(usage).to_have_text(re.compile(r"^[\d,]+ of 200,000 tokens today$"))
    before = int(usage.inner_text().split(" of ")[0].replace(",", ""))

    reply = send(page, "!tokens 30")
    expect(reply).to_have_attribute("data-status", "complete")

    expect(usage).not_to_have_text(f"{before:,} of 200,000 tokens today")
    after = int(usage.inner_text().split(" of ")[0].replace(",", ""))
    assert after >= before + 30
