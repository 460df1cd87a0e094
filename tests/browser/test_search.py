"""Search from the sidebar, in Chromium: a highlighted snippet, and a click that
lands on the message, on its branch."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import REPLIES, ask, new_chat, screenshot

pytestmark = pytest.mark.browser

USERS = 'article.message[data-role="user"]'


def test_ctrl_k_finds_a_message_on_another_branch_and_opens_it_there(contexts):
    word = "zebra" + uuid.uuid4().hex[:8]
    page = contexts.new_page()
    conversation = new_chat(page)
    ask(page, f"where is the {word} today?")
    # Edit the question: the page now shows a branch without the word.
    question = page.locator(USERS).first
    question.locator(".edit-btn").click()
    question.locator(".edit-input").fill("a different question")
    question.locator(".edit-input").press("Enter")
    expect(page.locator(REPLIES).last).to_have_attribute("data-status", "complete")
    expect(page.locator(f"{USERS} .message-text")).to_have_text(
        ["a different question"]
    )

    page.goto("/")
    page.keyboard.press("Control+k")
    expect(page.locator("#search-input")).to_be_focused()
    page.keyboard.type(word)

    mine = page.locator("a.search-link", has_text="You:")
    expect(mine).to_have_count(1)
    expect(mine.locator(".search-snippet mark")).to_have_text(word)
    screenshot(page, "search-results")
    mine.click()

    page.wait_for_url(re.compile(rf"/c/{conversation}/\?m=\d+"))
    found = page.locator("article.message.is-found")
    expect(found.locator(".message-text")).to_have_text(f"where is the {word} today?")
    expect(found).to_be_in_viewport()
    expect(found.locator(".branch-count")).to_have_text("1 / 2")


def test_a_search_that_finds_nothing_says_so(contexts):
    page = contexts.new_page()
    page.goto("/")
    page.locator("#search-input").fill("nothing-" + uuid.uuid4().hex)

    expect(page.locator("#search-results .search-empty")).to_contain_text(
        "Nothing found"
    )
    page.locator("#search-input").press("Escape")
    expect(page.locator("#search-results")).to_be_hidden()
