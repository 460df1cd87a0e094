"""The migration that turns linear conversations into trees, on old-style rows."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chat.replies import tree

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("chat", "0005_message_withheld")]
TREE = [("chat", "0006_message_tree")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_apps():
    """The models as they were before the tree; the latest schema again after."""
    apps = migrate(BEFORE)
    yield apps
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


def test_linear_conversations_become_trees_keeping_every_message(old_apps):
    User = old_apps.get_model("auth", "User")
    Conversation = old_apps.get_model("chat", "Conversation")
    Message = old_apps.get_model("chat", "Message")
    alice = User.objects.create(username="alice")
    chat = Conversation.objects.create(user=alice, title="Old")

    def say(role, content="", reply_to=None, **fields):
        return Message.objects.create(
            conversation=chat,
            role=role,
            content=content,
            reply_to_id=reply_to,
            **fields,
        ).pk

    q1 = say("user", "Capital of France?")
    a1 = say("assistant", "Paris.", q1)
    a1_again = say("assistant", "Paris, of course.", q1)  # regenerated
    a1_failed = say("assistant", "", q1, status="failed")  # a retry that failed
    q2 = say("user", "And Italy?")
    a2 = say("assistant", "Rome.", q2)
    q3 = say("user", "And Spain?")  # not answered yet
    empty = Conversation.objects.create(user=alice)
    unanswered = Conversation.objects.create(user=alice)
    lone = Message.objects.create(conversation=unanswered, role="user", content="hi")

    apps = migrate(TREE)

    Message = apps.get_model("chat", "Message")
    Conversation = apps.get_model("chat", "Conversation")
    parents = dict(Message.objects.values_list("id", "parent_id"))
    assert parents == {
        q1: None,
        a1: q1,
        a1_again: q1,
        a1_failed: q1,
        # The newest answer with text stays on the line; the others are siblings.
        q2: a1_again,
        a2: q2,
        q3: a2,
        lone.pk: None,
    }
    assert Conversation.objects.get(pk=chat.pk).current_leaf_id == q3
    assert Conversation.objects.get(pk=empty.pk).current_leaf_id is None
    assert Conversation.objects.get(pk=unanswered.pk).current_leaf_id == lone.pk
    assert tree.path_ids(chat.pk, q3) == [q1, a1_again, q2, a2, q3]
    assert tree.siblings_of(chat.pk, [a1_again]) == {
        a1_again: [a1, a1_again, a1_failed]
    }


def test_the_migration_goes_back_to_reply_to(old_apps):
    User = old_apps.get_model("auth", "User")
    Conversation = old_apps.get_model("chat", "Conversation")
    Message = old_apps.get_model("chat", "Message")
    chat = Conversation.objects.create(user=User.objects.create(username="bo"))
    question = Message.objects.create(conversation=chat, role="user", content="q")
    answer = Message.objects.create(
        conversation=chat, role="assistant", content="a", reply_to=question
    )
    migrate(TREE)

    apps = migrate(BEFORE)

    Message = apps.get_model("chat", "Message")
    assert Message.objects.get(pk=answer.pk).reply_to_id == question.pk
