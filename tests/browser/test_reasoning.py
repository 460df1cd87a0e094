"""The model's thinking in the page: collapsed above the answer, open as it streams."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import REPLIES, new_chat, send, wait_connected

pytestmark = pytest.mark.browser

END = {"timeout": 30_000}
STEPS = [f"Step {i} of the **plan**. " for i in range(1, 121)]
THOUGHT_FOR = re.compile(r"^Thought for \d+ s$")


def test_the_thinking_streams_collapsed_opens_while_streaming_and_says_how_long(
    page, upstream
):
    upstream.script(reasoning=STEPS, text="The answer.", delay=0.02)
    new_chat(page)
    reply = send(page, "Think first")
    box = reply.locator(".message-reasoning")
    label = box.locator(".message-reasoning-label")
    thought = box.locator(".message-reasoning-text")

    expect(label).to_have_text("Thinking…")
    expect(box).to_have_js_property("open", False)
    expect(thought).to_be_hidden()  # collapsed: there, but not shown

    label.click()
    expect(thought).to_contain_text("Step 1 of the **plan**.")
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(thought).to_contain_text("Step 60 of")  # it grows while open
    expect(reply.locator(".message-text")).to_have_text("")  # the answer waits

    expect(reply).to_have_attribute("data-status", "complete", **END)
    expect(label).to_have_text(THOUGHT_FOR)
    expect(box).to_have_js_property("open", True)  # the person's choice stays
    rendered = box.locator(".message-reasoning-html")
    expect(rendered).to_contain_text("Step 120 of the plan.")
    expect(rendered.locator("strong").first).to_have_text("plan")
    expect(thought).to_be_hidden()
    expect(reply.locator(".message-html")).to_have_text("The answer.")
    said = label.text_content()

    page.reload()
    wait_connected(page)
    stored = page.locator(REPLIES).last.locator(".message-reasoning")
    expect(stored).to_have_js_property("open", False)
    expect(stored.locator(".message-reasoning-label")).to_have_text(said)
    stored.locator(".message-reasoning-label").click()
    expect(stored.locator(".message-reasoning-html strong").first).to_have_text("plan")


def test_an_answer_without_thinking_shows_no_thinking_block(page, upstream):
    upstream.script(text="Just the answer.")
    new_chat(page)
    reply = send(page, "No thinking")

    expect(reply).to_have_attribute("data-status", "complete", **END)
    expect(reply.locator(".message-reasoning")).to_be_hidden()


def test_a_reload_while_the_model_thinks_picks_the_thinking_up_from_the_snapshot(
    page, upstream
):
    upstream.script(reasoning=STEPS, text="Done thinking.", delay=0.02)
    new_chat(page)
    reply = send(page, "Think, then answer")
    expect(reply.locator(".message-reasoning-text")).to_contain_text("Step 5 of")

    page.reload()
    wait_connected(page)
    again = page.locator(REPLIES).last
    box = again.locator(".message-reasoning")
    expect(again).to_have_attribute("data-status", "streaming")
    box.locator(".message-reasoning-label").click()
    # Text from before the reload (the snapshot) and after it (deltas), in order.
    expect(box.locator(".message-reasoning-text")).to_contain_text(
        "Step 1 of the **plan**. Step 2 of"
    )
    expect(box.locator(".message-reasoning-text")).to_contain_text("Step 100 of")

    expect(again).to_have_attribute("data-status", "complete", **END)
    full = "".join(STEPS).replace("**", "").strip()
    expect(box.locator(".message-reasoning-html")).to_have_text(full)
    expect(again.locator(".message-html")).to_have_text("Done thinking.")
