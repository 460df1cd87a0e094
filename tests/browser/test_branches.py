"""Branches, the model picker, settings and shortcuts on the page, in Chromium."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import REPLIES, ask, new_chat, screenshot, wait_connected

pytestmark = pytest.mark.browser

USERS = 'article.message[data-role="user"]'


def test_an_edit_makes_a_branch_that_tabs_switch_between_and_a_reload_keeps(
    contexts, upstream
):
    page = contexts.new_page()
    conversation = new_chat(page)
    ask(page, "first question")
    ask(page, "second")
    question = page.locator(USERS).first

    question.locator(".edit-btn").click()
    question.locator(".edit-input").press("Escape")  # cancelled: nothing sent
    expect(question.locator(".message-editor")).to_have_count(0)
    question.locator(".edit-btn").click()
    question.locator(".edit-input").fill("edited question")
    question.locator(".edit-input").press("Enter")

    expect(page.locator(USERS)).to_have_count(1)
    edited = page.locator(USERS).first
    expect(edited.locator(".message-text")).to_have_text("edited question")
    expect(edited.locator(".branch-count")).to_have_text("2 / 2")
    reply = page.locator(REPLIES).last
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".message-html")).to_have_text("You said: edited question")
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "edited question"}
    ]
    screenshot(page, "branch-edited")

    # A second tab shows the same branch, and follows a switch made in the first.
    other = contexts.new_page()
    other.goto(f"/c/{conversation}/")
    wait_connected(other)
    expect(other.locator(f"{USERS} .message-text")).to_have_text(["edited question"])
    edited.locator('[data-action="branch-prev"]').click()

    for tab in (page, other):
        expect(tab.locator(f"{USERS} .message-text")).to_have_text(
            ["first question", "second"]
        )
        expect(tab.locator(USERS).first.locator(".branch-count")).to_have_text("1 / 2")
    page.reload()
    wait_connected(page)
    expect(page.locator(f"{USERS} .message-text")).to_have_text(
        ["first question", "second"]
    )
    expect(page.locator(REPLIES).last.locator(".message-html")).to_have_text(
        "You said: second"
    )
    page.locator(USERS).first.locator('[data-action="branch-next"]').click()
    expect(page.locator(f"{USERS} .message-text")).to_have_text(["edited question"])


def test_regenerate_keeps_both_answers_to_switch_between(page, upstream):
    new_chat(page)
    upstream.script(text="First answer.")
    first = ask(page, "hello")
    upstream.script(text="Second answer.")

    first.locator(".regenerate-btn").click()

    reply = page.locator(REPLIES).last
    expect(reply.locator(".message-html")).to_have_text("Second answer.")
    expect(page.locator(REPLIES)).to_have_count(1)
    expect(reply.locator(".branch-count")).to_have_text("2 / 2")
    page.keyboard.press("Alt+ArrowLeft")
    expect(page.locator(f"{REPLIES} .message-html")).to_have_text(["First answer."])


def test_the_model_picker_sets_the_model_that_answers_and_refuses_others(
    page, upstream
):
    new_chat(page)
    picker = page.locator("#model-picker")
    expect(picker.locator("option")).to_have_text(
        ["test-model", "fake-model", "gpt-4o-mini"]
    )

    picker.select_option("fake-model")
    reply = ask(page, "which model?")
    expect(reply.locator(".message-author")).to_have_text("fake-model")
    assert upstream.requests[-1]["model"] == "fake-model"
    page.reload()
    wait_connected(page)
    expect(page.locator("#model-picker")).to_have_value("fake-model")

    # A model the server does not offer (a stale list, a crafted page): refused.
    page.evaluate(
        "document.getElementById('model-picker').add(new Option('bogus', 'bogus'))"
    )
    page.locator("#model-picker").select_option("bogus")
    expect(page.locator("#chat-banner-text")).to_contain_text("not offered")
    expect(page.locator("#model-picker")).to_have_value("fake-model")


def test_the_settings_dialog_stores_the_system_prompt_the_model_reads(page, upstream):
    new_chat(page)
    page.locator("#settings-button").click()
    dialog = page.locator("#settings-dialog")
    expect(dialog).to_be_visible()
    page.locator("#system-prompt-input").fill("Answer like a pirate.")
    page.locator("#settings-save").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#chat-status")).to_have_text("Settings saved")

    ask(page, "hello")

    assert upstream.requests[-1]["messages"][0] == {
        "role": "system",
        "content": "Answer like a pirate.",
    }
    page.reload()
    page.locator("#settings-button").click()
    expect(page.locator("#system-prompt-input")).to_have_value("Answer like a pirate.")


def test_question_mark_opens_the_shortcuts_outside_text_fields(page):
    new_chat(page)
    page.locator("#composer-input").press("?")
    expect(page.locator("#help-dialog")).to_be_hidden()
    expect(page.locator("#composer-input")).to_have_value("?")

    page.locator("#composer-input").blur()
    page.keyboard.press("?")
    expect(page.locator("#help-dialog")).to_be_visible()
    expect(page.locator("#help-dialog")).to_contain_text("Keyboard shortcuts")
    screenshot(page, "shortcuts")
    page.keyboard.press("Escape")
    expect(page.locator("#help-dialog")).to_be_hidden()
