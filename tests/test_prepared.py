"""Statements built once (chat/prepared.py) keep the ORM's guards, store what it
stored, and make a turn a few statements."""

from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.models.functions import Now
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from chat import prepared
from chat.models import Conversation, Message, Profile
from chat.replies import tree, turns
from chat.replies.errors import ReplyError

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(
    not connection.features.has_select_for_update,
    reason="SQLite takes no row locks: nothing to guard",
)
def test_a_locked_read_outside_a_transaction_is_refused_every_time(alice):
    conversation = Conversation.objects.create(user=alice)
    with transaction.atomic():  # the statement is built and cached here
        assert prepared.get_locked(Conversation, "pk", conversation.pk) == conversation

    with pytest.raises(TransactionManagementError):
        prepared.get_locked(Conversation, "pk", conversation.pk)


# A turn: the conversation and its owner's Profile locked by one statement, both
# messages and the conversation's new leaf written by another (on PostgreSQL).

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has no INSERT in WITH: its turn is one statement per row",
)


def send(conversation, content="hi", client_id=None):
    return turns.store_turn(
        conversation_id=conversation.pk,
        content=content,
        client_id=client_id,
        run_channel="run",
    )


def answered(turn) -> None:
    Message.objects.filter(pk=turn.reply.pk).update(
        status=Message.Status.COMPLETE, content="an answer"
    )


def statements(run):
    """What a call returns, and the SQL it sends, BEGIN and COMMIT included."""
    with CaptureQueriesContext(connection) as queries:
        result = run()
    return result, [query["sql"] for query in queries.captured_queries]


@on_postgresql
def test_a_send_is_one_locking_read_and_one_write(alice, conversation):
    Profile.objects.create(user=alice)

    turn, first = statements(lambda: send(conversation))
    answered(turn)
    _, later = statements(lambda: send(conversation))

    # BEGIN, the conversation and Profile locked, the turn written, the running
    # answers and tokens today (the limits), COMMIT. One by one it was 8: a lock
    # each, two INSERTs and the UPDATE.
    assert len(first) == 5
    assert sum("FOR UPDATE" in sql for sql in first) == 1
    assert sum("INSERT" in sql for sql in first) == 1
    # A later send reads the path to the parent for the history: 9 before.
    assert len(later) == 6


@on_postgresql
def test_a_regeneration_is_one_locking_read_and_one_write(alice, conversation):
    Profile.objects.create(user=alice)
    turn = send(conversation)
    answered(turn)

    _, sent = statements(
        lambda: turns.store_regeneration(
            conversation_id=conversation.pk, message_id=turn.reply.pk, run_channel="r"
        )
    )

    # BEGIN, the locks, the old answer with its question, the write, the limits,
    # COMMIT: 9 before (a lock each, the question apart, INSERT and UPDATE).
    assert len(sent) == 6


def test_a_turn_in_one_statement_stores_what_one_by_one_stored(alice):
    def turn(conversation, store):
        question = Message(
            conversation=conversation,
            role=Message.Role.USER,
            content="hello",
            client_id="c1",
            parent_id=None,
        )
        reply = turns.new_reply(conversation, question, "run", history=[])
        conversation.title = "hello"
        with transaction.atomic():
            store(question, reply, conversation)
        return question, reply, conversation

    def one_by_one(question, reply, conversation):  # what store_turn did before
        prepared.insert(question)
        reply.parent = question
        prepared.insert(reply)
        conversation.current_leaf = reply
        prepared.update(conversation, ["title", "current_leaf", "updated_at"])

    def together(question, reply, conversation):
        prepared.insert_then_update(
            [question, reply], conversation, ["title", "current_leaf", "updated_at"]
        )

    old = turn(Conversation.objects.create(user=alice), one_by_one)
    new = turn(Conversation.objects.create(user=alice), together)

    question, reply, conversation = new
    assert question.pk < reply.pk  # stored in that order
    assert reply.parent is question and reply.parent_id == question.pk
    assert conversation.current_leaf is reply
    assert conversation.current_leaf_id == reply.pk
    assert not reply._state.adding and reply._state.db == "default"
    # As after save: the database's clock stays an expression on the instance.
    assert isinstance(reply.heartbeat_at, Now)
    for before, after in zip(old, new, strict=True):
        stored_before = type(before).objects.filter(pk=before.pk).values().get()
        stored_after = type(after).objects.filter(pk=after.pk).values().get()
        renumbered = {
            "id": after.pk,
            "conversation_id": new[2].pk,
            "parent_id": question.pk if after is reply else None,
            "current_leaf_id": reply.pk,
        }
        for column, value in stored_before.items():
            if column in renumbered:
                assert stored_after[column] == renumbered[column], column
            elif column in ("created_at", "updated_at"):
                # auto_now and defaults: the instance's time, as save sets it.
                assert stored_after[column] == getattr(after, column), column
            elif column == "heartbeat_at" and value is not None:
                # The database's clock (Now()), at each statement.
                assert abs(stored_after[column] - value) < timedelta(seconds=5)
            else:
                assert stored_after[column] == value, column


# Still streaming, the retry breaks both unique constraints: a retry all the same.
@pytest.mark.parametrize("first_answered", [True, False])
def test_a_retried_send_returns_the_stored_message_and_stores_nothing(
    alice, conversation, first_answered
):
    Profile.objects.create(user=alice)
    first = send(conversation, client_id="once")
    if first_answered:
        answered(first)

    again = send(conversation, content="hi again", client_id="once")

    assert again.reply is None
    assert again.user_message.pk == first.user_message.pk
    assert conversation.messages.count() == 2
    conversation.refresh_from_db()
    assert conversation.current_leaf_id == first.reply.pk


@pytest.mark.parametrize("client_id", [None, "new"])
def test_a_send_while_an_answer_streams_is_busy_and_stores_nothing(
    alice, conversation, client_id
):
    Profile.objects.create(user=alice)
    first = send(conversation, client_id="first")

    with pytest.raises(ReplyError) as refused:
        send(conversation, client_id=client_id)

    assert refused.value.code == "busy"
    assert conversation.messages.count() == 2
    conversation.refresh_from_db()
    assert conversation.current_leaf_id == first.reply.pk


def test_a_send_by_someone_without_a_profile_makes_it(alice, conversation):
    assert not Profile.objects.filter(user=alice).exists()

    turn = send(conversation)

    assert Profile.objects.filter(user=alice).exists()
    conversation.refresh_from_db()
    assert conversation.current_leaf_id == turn.reply.pk
    assert turn.reply.parent_id == turn.user_message.pk


def test_the_limits_are_the_profile_locked_with_the_conversation(alice):
    Profile.objects.create(user=alice, concurrent_streams=1)
    send(Conversation.objects.create(user=alice))  # still streaming
    other = Conversation.objects.create(user=alice)

    with CaptureQueriesContext(connection) as sent, pytest.raises(ReplyError) as e:
        send(other)

    assert e.value.code == "too_many_streams"
    # Read once, with the conversation: not locked again for the limits.
    assert sum('"chat_profile"' in query["sql"] for query in sent) == 1
    assert not other.messages.exists()
    other.refresh_from_db()
    assert other.current_leaf_id is None and other.title == ""


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_the_history_of_an_unstored_message_is_that_of_the_stored_one(
    alice, conversation, settings, limit
):
    settings.CHAT_HISTORY_MESSAGES = limit
    for number in range(3):
        answered(send(conversation, content=f"turn {number}"))
    conversation.refresh_from_db()
    question = Message(
        conversation=conversation,
        role=Message.Role.USER,
        content="last",
        parent_id=conversation.current_leaf_id,
    )

    unstored = turns.history_for(conversation, up_to=question)
    prepared.insert(question)
    stored = turns.history_for(conversation, up_to=question)

    assert unstored == stored
    # The path as read from the stored message itself, as the history was built
    # before a turn's messages were written after it.
    path = tree.path_turns(conversation.pk, question.pk, limit=limit)
    assert [m for m in stored if m["role"] != "system"] == [
        {"role": role, "content": content} for role, content, _ in path
    ]
    assert len(path) == min(limit, 7)


@pytest.mark.skipif(
    not connection.features.has_select_for_update,
    reason="SQLite takes no row locks",
)
def test_the_locking_read_locks_the_profile_too(alice, conversation):
    Profile.objects.create(user=alice)
    other = connections.create_connection("default")
    try:
        with transaction.atomic():
            prepared.get_locked_with(
                Conversation, "pk", conversation.pk, Profile, "user"
            )
            with other.cursor() as cursor:
                cursor.execute("SET lock_timeout = '100ms'")
                for table, column in (
                    ("chat_profile", "user_id"),
                    ("chat_conversation", "id"),
                ):
                    value = alice.pk if table == "chat_profile" else conversation.pk
                    with pytest.raises(OperationalError):
                        cursor.execute(
                            f"SELECT 1 FROM {table} WHERE {column} = %s FOR UPDATE",
                            [value],
                        )
    finally:
        other.close()


# An answer's end.


def test_an_answers_end_is_stored_whole_or_not_at_all(alice, conversation, monkeypatch):
    turn = send(conversation)
    reply = Message.objects.get(pk=turn.reply.pk)
    reply.status, reply.content = Message.Status.FAILED, "withheld text"

    def refuse(**fields):
        raise RuntimeError("the flag could not be stored")

    monkeypatch.setattr(turns.Flag.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        turns.store_finish_and_usage(reply, "run", flag_note="Moderation: harmful")

    # The final UPDATE went with the flag: the answer is still the run's.
    reply.refresh_from_db()
    assert (reply.status, reply.run_channel) == (Message.Status.STREAMING, "run")

    monkeypatch.undo()
    reply.status = Message.Status.COMPLETE
    assert turns.store_finish_and_usage(reply, "run") == {"used": reply.prompt_tokens}
    assert turns.store_finish_and_usage(reply, "run") is None  # no longer the run's
