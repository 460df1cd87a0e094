"""Live formatting in the page: settled blocks show as server HTML as text streams."""

import pytest
from playwright.sync_api import expect

from chat.rendering import render_markdown
from tests.browser.conftest import REPLIES, new_chat, send, wait_connected
from tests.hostile_corpus import LONG_RICH_MARKDOWN

pytestmark = pytest.mark.browser

# One long last paragraph: it stays unsettled (plain text) for a few seconds.
ANSWER = LONG_RICH_MARKDOWN + "\n" + "More words keep arriving here. " * 80
END = {"timeout": 30_000}

MARK_FIRST_SETTLED = """reply => {
  window.firstSettled = reply.querySelector('.message-html').firstElementChild;
  return window.firstSettled.tagName;
}"""
FIRST_SETTLED_KEPT = """reply => window.firstSettled.isConnected
  && reply.querySelector('.message-html').firstElementChild === window.firstSettled"""
CLIENT_LENGTH = "id => window.ChatClient.messages.get(id).length"
GREW_BEYOND = "([id, n]) => window.ChatClient.messages.get(id).length > n"


def expect_formatted_blocks(reply) -> None:
    """The heading, the table and both highlighted code blocks are on the page."""
    html = reply.locator(".message-html")
    expect(html.locator("h2")).to_have_text("Reading a CSV file")
    expect(html.locator(".table-wrap table td").first).to_have_text("csv.reader")
    expect(html.locator("div.codehilite")).to_have_count(2)
    expect(html.locator(".codehilite span.kn").first).to_have_text("import")
    expect(html.locator(".code-header .code-lang").last).to_have_text("markdown")


def test_a_long_answer_shows_its_heading_table_and_code_formatted_before_it_ends(
    page, upstream
):
    upstream.script(text=ANSWER, delay=0.015)
    new_chat(page)
    reply = send(page, "How do I read a CSV file?")
    message_id = int(reply.get_attribute("data-message-id"))

    expect(reply.locator(".message-html h2")).to_be_visible()
    assert reply.evaluate(MARK_FIRST_SETTLED) == "H2"
    expect_formatted_blocks(reply)
    expect(reply).to_have_attribute("data-status", "streaming")
    # The unsettled rest shows as plain text after the settled HTML.
    tail = reply.locator(".message-text")
    expect(tail).to_contain_text("More words keep arriving")
    assert "```" not in tail.text_content() and "|" not in tail.text_content()

    # More deltas arrive; the settled part is not rebuilt.
    length = page.evaluate(CLIENT_LENGTH, message_id)
    page.wait_for_function(GREW_BEYOND, arg=[message_id, length + 100])
    assert reply.evaluate(FIRST_SETTLED_KEPT)

    expect(reply).to_have_attribute("data-status", "complete", **END)
    # reply.done's HTML, the stored one, replaced the preview: nothing twice.
    final = page.evaluate("id => window.ChatClient.messages.get(id).html", message_id)
    assert final == render_markdown(ANSWER)
    expect(reply.locator(".message-text")).to_be_hidden()
    expect(reply.locator(".message-html h2")).to_have_count(1)
    expect(reply.locator(".message-html div.codehilite")).to_have_count(2)
    shown = reply.locator(".message-html").inner_html()
    page.reload()
    wait_connected(page)
    assert page.locator(REPLIES).last.locator(".message-html").inner_html() == shown


def test_a_reload_mid_answer_shows_the_formatted_part_at_once(page, upstream):
    upstream.script(text=ANSWER, delay=0.015)
    new_chat(page)
    reply = send(page, "How do I read a CSV file?")
    expect(reply.locator(".message-html div.codehilite")).to_have_count(2)

    page.reload()
    wait_connected(page)
    reply = page.locator(REPLIES).last
    expect_formatted_blocks(reply)
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(reply.locator(".message-text")).to_contain_text("More words")

    expect(reply).to_have_attribute("data-status", "complete", **END)
    expect(reply.locator(".message-html h2")).to_have_count(1)
    expect(reply.locator(".message-html table")).to_have_count(1)
