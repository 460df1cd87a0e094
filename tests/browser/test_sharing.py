"""Sharing and importing as a person does it, in Chromium under the site's CSP."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ask, new_chat, screenshot
from tests.browser.test_csp import watched
from tests.hostile_corpus import SAMPLE_RICH_MARKDOWN

pytestmark = pytest.mark.browser


def test_a_shared_link_opens_logged_out_with_working_code_copy_and_no_socket(
    contexts,
):
    page = contexts.new_page()
    new_chat(page)
    ask(page, "!text " + SAMPLE_RICH_MARKDOWN)
    page.locator("#share-button").click()
    page.locator("#share-create").click()
    page.wait_for_url(re.compile(r"/shared/"))
    url = page.locator(".shared-link.is-new .shared-url").get_attribute("href")

    context, violations = watched(
        contexts, logged_in=False, permissions=["clipboard-read", "clipboard-write"]
    )
    visitor = context.new_page()
    sockets = []
    visitor.on("websocket", lambda socket: sockets.append(socket.url))
    assert violations.on(visitor, url) == []
    block = visitor.locator(".message-html div.codehilite").first
    block.locator("button.code-copy").click()
    expect(block.locator("button.code-copy")).to_have_text("Copied")
    assert visitor.evaluate("navigator.clipboard.readText()").startswith(
        "def by_length"
    )
    expect(visitor.get_by_text("Log in to continue this conversation")).to_be_visible()
    screenshot(visitor, "shared-page")
    assert sockets == [] and violations.of(visitor) == []


def test_an_import_shows_its_progress_until_it_is_done(contexts, tmp_path):
    conversations = [
        {
            "title": f"Imported {n}",
            "create_time": 1_700_000_000 + n,
            "mapping": {
                "r": {"id": "r", "message": None, "parent": None, "children": ["u"]},
                "u": {
                    "id": "u",
                    "parent": "r",
                    "children": [],
                    "message": {
                        "author": {"role": "user"},
                        "content": {"content_type": "text", "parts": [f"q{n}"]},
                    },
                },
            },
            "current_node": "u",
        }
        for n in range(30)
    ]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(conversations))
    context, violations = watched(contexts)
    page = context.new_page()
    page.goto("/transfer/")

    page.locator("#import-file").set_input_files(str(path))
    page.locator("#import-button").click()

    expect(page.locator("#import-state")).to_have_text("Imported 30 conversations.")
    expect(page.locator("#import-done")).to_be_visible()
    screenshot(page, "import-done")
    assert violations.of(page) == []
