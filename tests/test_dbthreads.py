"""On PostgreSQL a send's transaction does not wait for another's to finish."""

import asyncio
import threading

import pytest
from django.db import DatabaseError, connection, transaction

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


@pytest.fixture
def health_checks(monkeypatch, settings):
    """Count the pool threads' health checks (CONN_HEALTH_CHECKS, as deployed)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps every call on the one database thread")
    from django.db import connections

    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    checks = []
    wrapper = type(connections["default"])
    usable = wrapper.is_usable

    def counted(self):
        checks.append(threading.get_ident())
        return usable(self)

    monkeypatch.setattr(wrapper, "is_usable", counted)
    dbthreads.close_connections()  # connections made anew, with the setting
    return checks


def one_query():
    return Conversation.objects.count()


async def test_a_pool_thread_checks_its_connection_once_for_calls_close_together(
    health_checks,
):
    """Django checks a connection at each request's first query; a pool thread's
    calls a few milliseconds apart are not each a request."""
    for _ in range(3):
        await dbthreads.parallel(one_query)()
    await dbthreads.parallel(one_query)()  # the connection was just made: kept
    assert len(health_checks) <= 1


async def test_a_pool_thread_checks_its_connection_after_a_pause(
    health_checks, monkeypatch
):
    await dbthreads.parallel(one_query)()
    await dbthreads.parallel(one_query)()
    before = len(health_checks)
    monkeypatch.setattr(dbthreads, "CHECK_EVERY_S", 0.0)  # every call is late
    await dbthreads.parallel(one_query)()
    await dbthreads.parallel(one_query)()
    assert len(health_checks) == before + 2


async def test_a_connection_broken_under_a_call_is_replaced(health_checks):
    from django.db import connections

    def break_connection():
        connections["default"].ensure_connection()
        connections["default"].connection.close()  # as a restarted server would
        return Conversation.objects.count()

    with pytest.raises(DatabaseError):
        await dbthreads.parallel(break_connection)()
    # The next call on that thread gets a working connection.
    for _ in range(len(dbthreads._pool)):
        assert await dbthreads.parallel(one_query)() >= 0


async def test_the_first_call_opens_every_threads_connection(settings):
    """A burst of sends after a start must not wait for connections to be made."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps every call on the one database thread")
    from django.db import connections

    dbthreads.close_connections()
    await dbthreads.parallel(one_query)()
    assert len(dbthreads._pool) == settings.CHAT_DATABASE_THREADS

    def is_open():
        return connections["default"].connection is not None

    # Each thread runs its calls in order: this comes after its own connecting.
    opened = [t.executor.submit(is_open).result() for t in dbthreads._pool]
    assert opened == [True] * len(opened)
