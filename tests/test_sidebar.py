"""The sidebar: pinned on top, the rest under date headings, in pages; archived
ones apart; pin and archive for the owner only; a page's queries do not grow with
the number of conversations."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import sidebar
from chat.models import Conversation

pytestmark = pytest.mark.django_db


def conversations(user, count, *, days_ago=0, **fields):
    made = Conversation.objects.bulk_create(
        Conversation(user=user, title=f"chat {i}", **fields) for i in range(count)
    )
    when = timezone.now() - timedelta(days=days_ago)
    Conversation.objects.filter(pk__in=[c.pk for c in made]).update(updated_at=when)
    return made


def queries_of_the_home_page(client) -> int:
    client.get("/")  # the first visit makes the profile
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/")
    assert response.status_code == 200
    return len(queries)


def test_the_page_makes_as_many_queries_for_5000_conversations_as_for_10(client, alice):
    client.force_login(alice)
    conversations(alice, 10)
    pinned = [c.pk for c in conversations(alice, 2)]
    Conversation.objects.filter(pk__in=pinned).update(pinned=True)
    few = queries_of_the_home_page(client)

    conversations(alice, 4990, days_ago=40)
    many = queries_of_the_home_page(client)

    assert many == few
    body = client.get("/").content.decode()
    assert body.count('class="conversation-item') == 2 + sidebar.PAGE_SIZE
    assert "Show more" in body


def test_pages_follow_each_other_without_gaps_or_repeats(alice):
    made = conversations(alice, 120)  # the same updated_at: the id breaks the tie

    seen, cursor = [], None
    while True:
        page = sidebar.page(user=alice, cursor=cursor)
        seen += [c.pk for c in page.conversations]
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == sorted((c.pk for c in made), reverse=True)


def test_the_next_page_is_a_fragment_of_list_items(client, alice):
    conversations(alice, sidebar.PAGE_SIZE + 5)
    client.force_login(alice)
    first = sidebar.page(user=alice)

    response = client.get("/c/page/", {"cursor": first.next_cursor})

    body = response.content.decode()
    assert body.count('class="conversation-item') == 5
    assert "<html" not in body
    assert "conversation-more" not in body


def test_a_made_up_cursor_is_a_bad_request(client, alice):
    client.force_login(alice)

    for cursor in ["nonsense", "2026-01-01T00:00:00_1", "2026-01-01T00:00:00+00:00_x"]:
        assert client.get("/c/page/", {"cursor": cursor}).status_code == 400


def test_bob_pages_only_through_his_own_conversations(client, alice, bob):
    conversations(alice, 3)
    conversations(bob, 1)
    client.force_login(bob)

    body = client.get("/c/page/", {"cursor": ""}).content.decode()

    assert body.count('class="conversation-item') == 1


def test_conversations_are_grouped_by_date():
    now = timezone.now()
    keys = [
        sidebar.date_group(now - timedelta(days=days), now)[0] for days in (0, 1, 3, 20)
    ]

    assert keys == ["today", "yesterday", "week", "month"]
    key, label = sidebar.date_group(now - timedelta(days=400), now)
    assert key == (now - timedelta(days=400)).strftime("%Y-%m")
    assert label  # e.g. "October 2025"


def test_each_date_heading_is_shown_once_before_its_conversations(client, alice):
    conversations(alice, 2)
    conversations(alice, 2, days_ago=1)
    client.force_login(alice)

    body = client.get("/").content.decode()

    assert body.count('data-group="today"') == 1
    assert body.count('data-group="yesterday"') == 1
    assert body.index('data-group="today"') < body.index('data-group="yesterday"')


def test_pinning_puts_a_conversation_on_top_without_changing_its_date(client, alice):
    old = conversations(alice, 1, days_ago=90)[0]
    conversations(alice, 3)
    before = Conversation.objects.get(pk=old.pk).updated_at
    client.force_login(alice)

    response = client.post(f"/c/{old.pk}/pin/", {"pinned": "1", "next": "/"})

    assert response.status_code == 302 and response["Location"] == "/"
    old.refresh_from_db()
    assert old.pinned and old.updated_at == before
    body = client.get("/").content.decode()
    assert body.index(f'data-conversation-id="{old.pk}"') < body.index(
        'id="conversation-list"'
    )


def test_archiving_moves_a_conversation_to_the_archived_list_and_back(client, alice):
    (conversation,) = conversations(alice, 1)
    item = f'data-conversation-id="{conversation.pk}"'
    client.force_login(alice)

    client.post(f"/c/{conversation.pk}/archive/", {"archived": "1"})

    assert item not in client.get("/").content.decode()
    assert item in client.get("/archived/").content.decode()
    assert client.get(f"/c/{conversation.pk}/").status_code == 200

    client.post(f"/c/{conversation.pk}/archive/", {"archived": "0"})

    assert item in client.get("/").content.decode()
    assert item not in client.get("/archived/").content.decode()


def test_bob_cannot_pin_or_archive_alices_conversation(client, alice, bob):
    (conversation,) = conversations(alice, 1)
    client.force_login(bob)

    assert client.post(f"/c/{conversation.pk}/pin/", {"pinned": "1"}).status_code == 404
    assert (
        client.post(f"/c/{conversation.pk}/archive/", {"archived": "1"}).status_code
        == 404
    )
    conversation.refresh_from_db()
    assert not conversation.pinned and not conversation.archived


def test_pin_goes_back_only_to_this_site(client, alice):
    (conversation,) = conversations(alice, 1)
    client.force_login(alice)

    response = client.post(
        f"/c/{conversation.pk}/pin/", {"pinned": "1", "next": "https://evil.example/"}
    )

    assert response["Location"] == f"/c/{conversation.pk}/"
