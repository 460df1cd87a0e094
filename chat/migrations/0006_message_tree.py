"""Messages form a tree: each has a parent; a conversation shows one branch.

Linear conversations become trees: each message follows the previous one on the
line; several answers to one user message (regenerated, linked by `reply_to`)
become sibling answers, and the newest one with text stays on the line, as it
was the one sent to the model before. The conversation shows the line's end.
Every message is kept. Also: system prompts per conversation and per person.
"""

import django.db.models.deletion
from django.db import migrations, models


def tree_of_a_line(rows):
    """Parents and the leaf for one conversation's (id, role, content, reply_to_id)
    rows, oldest first."""
    users = {row[0] for row in rows if row[1] != "assistant"}
    answers = {}  # user message id -> its answers, oldest first
    line = []  # user messages, and answers to no known user message
    for message_id, role, content, reply_to_id in rows:
        if role == "assistant" and reply_to_id in users:
            answers.setdefault(reply_to_id, []).append((message_id, content))
        else:
            line.append(message_id)
    parents = {}
    previous = None
    for message_id in line:
        parents[message_id] = previous
        previous = message_id
        if message_id not in answers:
            continue
        for answer_id, _ in answers[message_id]:
            parents[answer_id] = message_id
        with_text = [a for a, content in answers[message_id] if content]
        previous = (with_text or [a for a, _ in answers[message_id]])[-1]
    return parents, previous


def build_trees(apps, schema_editor):
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    db = schema_editor.connection.alias
    conversations = Conversation.objects.using(db).order_by("pk")
    for conversation_id in conversations.values_list("pk", flat=True).iterator():
        rows = list(
            Message.objects.using(db)
            .filter(conversation_id=conversation_id)
            .order_by("created_at", "id")
            .values_list("id", "role", "content", "reply_to_id")
        )
        if not rows:
            continue
        parents, leaf = tree_of_a_line(rows)
        Message.objects.using(db).bulk_update(
            [Message(pk=pk, parent_id=parent) for pk, parent in parents.items()],
            ["parent"],
            batch_size=500,
        )
        conversations.filter(pk=conversation_id).update(current_leaf_id=leaf)
    if schema_editor.connection.vendor == "postgresql":
        # Check the deferred foreign keys now: PostgreSQL refuses to alter a
        # table (dropping reply_to below) with trigger events still pending.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def back_to_lines(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    db = schema_editor.connection.alias
    answers = Message.objects.using(db).filter(role="assistant")
    for message in answers.exclude(parent=None).only("pk", "parent_id").iterator():
        answers.filter(pk=message.pk).update(reply_to_id=message.parent_id)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_message_withheld"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="current_leaf",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="system_prompt",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="profile",
            name="system_prompt",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(build_trees, back_to_lines),
        migrations.RemoveField(
            model_name="message",
            name="reply_to",
        ),
    ]
