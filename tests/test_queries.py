"""Database work per reply is constant: never a query per token."""

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import replies

pytestmark = pytest.mark.django_db(transaction=True)


def queries_for_a_reply(conversation, upstream, tokens: int) -> int:
    upstream.script(tokens=["tok "] * tokens)

    async def reply():
        turn = await replies.start_reply(
            conversation_id=conversation.pk, content=f"{tokens} tokens please"
        )
        await replies.local_run(turn.reply.pk).finished()

    # async_to_sync from a sync test runs the ORM's thread-sensitive calls on this
    # thread, so this connection sees every query the reply makes.
    with CaptureQueriesContext(connection) as queries:
        async_to_sync(reply)()
    return len(queries)


def test_a_5000_token_reply_makes_as_many_queries_as_a_10_token_one(
    conversation, openai_upstream, settings
):
    settings.CHAT_CHECKPOINT_S = 3600
    queries_for_a_reply(conversation, openai_upstream, 3)  # the title is set once

    short = queries_for_a_reply(conversation, openai_upstream, 10)
    long = queries_for_a_reply(conversation, openai_upstream, 5000)

    assert short == long
    # 10 before limits; they add one count of running answers and tokens today,
    # and the usage line sent at the end. The Profile's row lock is taken with
    # the conversation's (one SELECT), and on PostgreSQL the turn's two INSERTs
    # and the conversation's UPDATE are one statement (chat/prepared.py).
    assert short <= (10 if connection.vendor == "postgresql" else 12)
