"""The messages of a conversation page (chat/message_list.py): every message of the
branch shown, in order, with its branch marks; a person's text escaped; as many
queries for 500 messages as for 10."""

import itertools
import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

ARTICLE = re.compile(r'<article class="message message-(\w+)[^"]*" id="message-(\d+)"')


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def branch(conversation, count: int) -> list[Message]:
    """`count` messages, questions and answers by turns, each after the one before."""
    rows = Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role="user" if i % 2 == 0 else "assistant",
            content=f"message number {i}",
            html="" if i % 2 == 0 else f"<p>answer number {i}</p>",
        )
        for i in range(count)
    )
    for previous, message in itertools.pairwise(rows):
        message.parent_id = previous.pk
    Message.objects.bulk_update(rows[1:], ["parent"], batch_size=500)
    conversation.current_leaf = rows[-1]
    conversation.save()
    return rows


def shown(page: str) -> list[tuple[str, int]]:
    """(role, id) of each message on the page, top to bottom."""
    return [(role, int(pk)) for role, pk in ARTICLE.findall(page)]


def test_the_page_shows_all_500_messages_of_the_branch_in_order(
    alice_client, conversation, settings
):
    settings.CHAT_PAGE_MESSAGES = 500
    rows = branch(conversation, 500)

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert shown(page) == [(m.role, m.pk) for m in rows]
    assert "earlier message" not in page
    for m in (rows[0], rows[250], rows[-1]):
        assert f"message number {rows.index(m)}<" in page
    assert "<p>answer number 499</p>" in page


def test_the_newest_messages_follow_the_earlier_link_in_order(
    alice_client, conversation, settings
):
    settings.CHAT_PAGE_MESSAGES = 200
    rows = branch(conversation, 500)

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert shown(page) == [(m.role, m.pk) for m in rows[300:]]
    assert "Show 300 earlier messages" in page


def test_a_regenerated_answer_shows_its_branch_marks_and_not_the_other_answer(
    alice_client, conversation
):
    question = Message.objects.create(
        conversation=conversation, role="user", content="q"
    )
    first, second = (
        Message.objects.create(
            conversation=conversation,
            role="assistant",
            content=text,
            html=f"<p>{text}</p>",
            parent=question,
        )
        for text in ("first answer", "second answer")
    )
    conversation.current_leaf = second
    conversation.save()

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert shown(page) == [("user", question.pk), ("assistant", second.pk)]
    assert f'data-siblings="{first.pk},{second.pk}"' in page
    assert '<span class="branch-count">2 / 2</span>' in page
    assert "first answer" not in page

    conversation.current_leaf = first
    conversation.save()
    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert shown(page) == [("user", question.pk), ("assistant", first.pk)]
    assert '<span class="branch-count">1 / 2</span>' in page
    assert "second answer" not in page


def test_hostile_text_stays_escaped_and_stored_html_stays_html(
    alice_client, conversation
):
    hostile = '<script>alert("x")</script>'
    question = Message.objects.create(
        conversation=conversation, role="user", content=hostile
    )
    conversation.current_leaf = Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="failed",
        content=hostile,
        html="<p><strong>sanitized</strong></p>",
        model=f'm"><img src=x onerror=alert(1)>{hostile}',
        error=hostile,
        reasoning=hostile,
        parent=question,
    )
    conversation.save()

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert "<script>alert" not in page and "<img src=x" not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    # The question, the answer's text, its reasoning, its error, its model twice.
    assert page.count(escaped) == 6
    assert "<p><strong>sanitized</strong></p>" in page


def queries_of_the_page(client, conversation) -> int:
    client.get(f"/c/{conversation.pk}/")  # the first visit makes the profile
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/c/{conversation.pk}/")
    assert response.status_code == 200
    return len(queries)


def test_the_page_makes_as_many_queries_for_500_messages_as_for_10(
    alice_client, alice, conversation
):
    few = Conversation.objects.create(user=alice)
    branch(few, 10)
    rows = branch(conversation, 500)
    # A regenerated answer: its siblings are read too.
    Message.objects.create(
        conversation=conversation, role="assistant", parent_id=rows[-2].pk
    )

    assert queries_of_the_page(alice_client, conversation) == queries_of_the_page(
        alice_client, few
    )


def test_each_message_shows_its_own_time(alice_client, conversation, settings):
    settings.TIME_ZONE = "Europe/Paris"
    question = Message.objects.create(
        conversation=conversation,
        role="user",
        content="q",
        created_at=datetime(2026, 3, 1, 9, 59, 58, tzinfo=UTC),
    )
    conversation.current_leaf = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="a",
        parent=question,
        created_at=datetime(2026, 3, 1, 10, 0, 3, tzinfo=UTC),
    )
    conversation.save()

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert (
        '<time class="message-time" datetime="2026-03-01T10:59:58+01:00" '
        'title="March 1, 2026, 10:59 a.m.">10:59</time>'
    ) in page
    assert (
        '<time class="message-time" datetime="2026-03-01T11:00:03+01:00" '
        'title="March 1, 2026, 11 a.m.">11:00</time>'
    ) in page
