"""On PostgreSQL a send's transaction does not wait for another's to finish."""

import asyncio
import threading

import pytest
from django.db import connection, transaction

from chat import dbthreads
from chat.models import Conversation

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("orm_thread"),
]


async def test_a_transaction_held_open_does_not_hold_up_another_conversation(alice):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps every transaction on the one database thread")
    first, second = await Conversation.objects.abulk_create(
        [Conversation(user=alice), Conversation(user=alice)]
    )
    inside, released = threading.Event(), threading.Event()

    def slow():
        with transaction.atomic():
            Conversation.objects.select_for_update().get(pk=first.pk)
            inside.set()
            # Open until the other transaction has committed: on one shared
            # thread the other would wait behind this one, and this would time out.
            return released.wait(10)

    def quick():
        with transaction.atomic():
            Conversation.objects.select_for_update().get(pk=second.pk)
        released.set()

    slow_call = asyncio.ensure_future(dbthreads.parallel(slow)())
    assert await asyncio.to_thread(inside.wait, 10)
    await asyncio.wait_for(dbthreads.parallel(quick)(), 10)
    assert await slow_call
