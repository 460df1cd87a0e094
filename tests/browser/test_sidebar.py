"""The sidebar in Chromium: more conversations as it scrolls, pin and archive."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import USERNAME, new_chat
from tests.servers import manage

pytestmark = pytest.mark.browser

ITEMS = "#conversation-list li.conversation-item"

# Old conversations (two months ago and before), below every test's new ones.
MAKE_OLD = f"""
from datetime import timedelta
from django.utils import timezone
from chat.models import Conversation
from django.contrib.auth import get_user_model
user = get_user_model().objects.get(username={USERNAME!r})
made = Conversation.objects.bulk_create(
    Conversation(user=user, title=f"old chat {{i}}") for i in range(70)
)
for i, c in enumerate(made):
    Conversation.objects.filter(pk=c.pk).update(
        updated_at=timezone.now() - timedelta(days=60 + i)
    )
"""


@pytest.fixture(scope="module")
def old_conversations(server_env):
    manage(server_env, "shell", "-c", MAKE_OLD)


def test_the_list_loads_its_next_page_when_scrolled_to_the_end(
    contexts, old_conversations
):
    page = contexts.new_page()
    page.goto("/")
    first_page = page.locator(ITEMS).count()
    assert first_page == 50

    # Other browser tests' conversations come first (newer); each scroll to the
    # end of the list loads one more page, until the oldest one is there.
    loaded = first_page
    for _ in range(20):
        if page.locator(ITEMS).filter(has_text="old chat 69").count():
            break
        page.locator("#conversation-more").scroll_into_view_if_needed()
        expect(page.locator(ITEMS)).not_to_have_count(loaded)
        loaded = page.locator(ITEMS).count()

    expect(page.locator(ITEMS).filter(has_text="old chat 0")).to_have_count(1)
    expect(page.locator(ITEMS).filter(has_text="old chat 69")).to_have_count(1)
    # Each month's heading once, though its conversations came in two pages.
    headings = page.locator("#conversation-list .conversation-group").all_inner_texts()
    assert len(headings) == len(set(headings))


def test_pinning_and_archiving_move_a_conversation_and_back(contexts):
    page = contexts.new_page()
    conversation = new_chat(page)
    page.locator("#composer-input").fill("pin me")
    page.locator("#composer-input").press("Enter")
    item = f'li[data-conversation-id="{conversation}"]'
    expect(page.locator(f"#conversation-list {item}")).to_have_count(1)

    page.locator(f"{item} .conversation-pin button").click()
    expect(page.locator(f"#pinned-list {item}")).to_have_count(1)
    page.locator(f"#pinned-list {item} .conversation-pin button").click()
    expect(page.locator(f"#conversation-list {item}")).to_have_count(1)

    page.locator(f"{item} .conversation-archive button").click()
    expect(page.locator(item)).to_have_count(0)
    page.locator("#archived-link").click()
    expect(page.locator("#history-label")).to_have_text("Archived")
    page.locator(f"{item} .conversation-archive button").click()
    expect(page.locator(item)).to_have_count(0)  # back on the archived list
    page.goto("/")
    expect(page.locator(f"#conversation-list {item}")).to_have_count(1)
