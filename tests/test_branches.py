"""Conversations that branch: regenerate, edit, switch; what the model is sent."""

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from chat import replies
from chat.models import Conversation, Message
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def finish(socket, **frame) -> dict:
    """Send a frame and wait for the answer it starts to end; return its reply.done."""
    await socket.send(**frame)
    return (await socket.receive_until("reply.done"))[-1]


async def ask(socket, content: str) -> dict:
    return await finish(socket, type="send", content=content)


async def stored(message_id: int) -> Message:
    return await Message.objects.aget(pk=message_id)


async def leaf_of(conversation) -> int:
    await conversation.arefresh_from_db()
    return conversation.current_leaf_id


def sent_upstream(upstream) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in upstream.requests[-1]["messages"]]


async def test_a_regenerated_answer_is_a_sibling_and_the_model_sees_only_the_new_one(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    openai_upstream.script(text="Paris.")
    first = await ask(socket, "Capital of France?")
    openai_upstream.script(text="Paris, of course.")

    await socket.send(type="regenerate", message_id=first["message_id"])
    events = await socket.receive_until("reply.done")
    await ask(socket, "And of Italy?")

    path = next(e for e in events if e["type"] == "conversation.path")
    again = events[-1]["message_id"]
    question = (await stored(again)).parent_id
    assert (await stored(first["message_id"])).parent_id == question
    assert path["path"] == [question, again] and path["leaf_id"] == again
    assert path["siblings"] == {str(again): [first["message_id"], again]}
    assert sent_upstream(openai_upstream) == [
        ("user", "Capital of France?"),
        ("assistant", "Paris, of course."),
        ("user", "And of Italy?"),
    ]


async def test_an_edit_starts_a_sibling_branch_and_the_model_sees_only_that_branch(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    openai_upstream.script(text="A dog.")
    first = await ask(socket, "Name a pet")
    question = (await stored(first["message_id"])).parent_id
    openai_upstream.script(text="Rex.")
    await ask(socket, "Name it")
    openai_upstream.script(text="A cat.")

    await socket.send(
        type="edit", message_id=question, content="Name a quiet pet", client_id="e1"
    )
    events = await socket.receive_until("reply.done")

    message = next(e for e in events if e["type"] == "message")
    edited = message["message"]["id"]
    assert message["client_id"] == "e1" and message["message"]["parent_id"] is None
    assert sent_upstream(openai_upstream) == [("user", "Name a quiet pet")]
    path = next(e for e in events if e["type"] == "conversation.path")
    assert path["path"] == [edited, events[-1]["message_id"]]
    assert path["siblings"] == {str(edited): [question, edited]}

    await ask(socket, "Name it")
    assert sent_upstream(openai_upstream) == [
        ("user", "Name a quiet pet"),
        ("assistant", "A cat."),
        ("user", "Name it"),
    ]
    assert await Message.objects.acount() == 8  # nothing was replaced


async def test_a_retried_edit_stores_one_message(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    first = await ask(socket, "hello")
    question = (await stored(first["message_id"])).parent_id
    edit = dict(type="edit", message_id=question, content="hi", client_id="same")
    await finish(socket, **edit)

    await socket.send(**edit)
    echo = await socket.receive()

    assert echo["type"] == "message" and echo["client_id"] == "same"
    assert await socket.nothing()
    assert await Message.objects.acount() == 4


async def test_switching_to_a_sibling_moves_every_tab_to_its_newest_branch(
    alice, conversation, connect, openai_upstream, client
):
    tab = await connect(alice, conversation.pk)
    other_tab = await connect(alice, conversation.pk)
    first = await ask(tab, "one")
    question = (await stored(first["message_id"])).parent_id
    second = await ask(tab, "two")
    await finish(tab, type="edit", message_id=question, content="uno")
    await other_tab.receive_until("reply.done", message_id=second["message_id"])
    await other_tab.receive_until("conversation.path")

    await tab.send(type="switch", message_id=question)

    for socket in (tab, other_tab):
        path = (await socket.receive_until("conversation.path"))[-1]
        assert path["leaf_id"] == second["message_id"]
        assert path["path"][0] == question and len(path["path"]) == 4
    assert await leaf_of(conversation) == second["message_id"]
    # A reload shows the same branch, with "1 / 2" on the first message.
    await sync_to_async(client.force_login)(alice)
    page = (await sync_to_async(client.get)(f"/c/{conversation.pk}/")).content.decode()
    assert ">one<" in page and ">two<" in page and ">uno<" not in page
    assert 'class="branch-count">1 / 2<' in page


@pytest.mark.parametrize("kind", ["edit", "switch"])
async def test_message_ids_of_someone_else_or_another_chat_are_not_found(
    alice, conversation, connect, openai_upstream, kind
):
    bob = await sync_to_async(make_user)("bob")
    bobs = await Conversation.objects.acreate(user=bob)
    alices_other = await Conversation.objects.acreate(user=alice)
    foreign = [
        await Message.objects.acreate(conversation=other, role="user", content="x")
        for other in (bobs, alices_other)
    ]
    socket = await connect(alice, conversation.pk)
    await ask(socket, "mine")
    leaf = await leaf_of(conversation)

    for message in foreign:
        await socket.send(
            type=kind, message_id=message.pk, content="taken over", client_id="x"
        )
        error = await socket.receive()
        assert error["type"] == "error" and error["code"] == "not_found"
        assert error["request"] == kind and error["message_id"] == message.pk

    assert await leaf_of(conversation) == leaf
    assert not await Message.objects.filter(content="taken over").aexists()
    done = await ask(socket, "still here?")
    assert done["status"] == "complete"


async def test_editing_an_answer_or_bad_content_is_refused(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    answer = await ask(socket, "hello")

    await socket.send(type="edit", message_id=answer["message_id"], content="x")
    assert (await socket.receive())["code"] == "not_found"
    await socket.send(type="edit", message_id=answer["message_id"], content="  ")
    assert (await socket.receive())["code"] == "empty"
    await socket.send(type="edit", message_id="7", content="x")
    assert (await socket.receive())["code"] == "bad_request"
    assert await Message.objects.acount() == 2


async def test_switching_while_an_answer_streams_is_refused_as_busy(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    first = await ask(socket, "one")
    openai_upstream.script(tokens=["x "] * 200, delay=0.02)
    await socket.send(type="send", content="two")
    start = (await socket.receive_until("reply.start"))[-1]

    await socket.send(type="switch", message_id=first["message_id"])
    error = (await socket.receive_until("error"))[-1]

    assert error["code"] == "busy" and error["request"] == "switch"
    assert await leaf_of(conversation) == start["message_id"]
    await socket.send(type="stop", message_id=start["message_id"])
    await socket.receive_until("reply.done")


async def test_stop_and_snapshots_work_on_a_branch(
    alice, conversation, connect, openai_upstream
):
    tab = await connect(alice, conversation.pk)
    first = await ask(tab, "one")
    openai_upstream.script(tokens=[f"w{i} " for i in range(300)], delay=0.02)
    await tab.send(type="regenerate", message_id=first["message_id"])
    start = (await tab.receive_until("reply.delta"))[-1]
    branch_reply = start["message_id"]

    late_tab = await connect(alice, conversation.pk)
    snapshot = (await late_tab.receive_until("reply.snapshot"))[-1]
    await late_tab.send(type="stop", message_id=branch_reply)
    done = (await late_tab.receive_until("reply.done"))[-1]
    await late_tab.send(type="resync", message_id=branch_reply)
    again = (await late_tab.receive_until("reply.snapshot"))[-1]

    message = await stored(branch_reply)
    assert snapshot["message_id"] == branch_reply
    assert done["status"] == message.status == "stopped"
    assert again["text"] == message.content and message.content.startswith("w0 ")
    assert await leaf_of(conversation) == branch_reply


async def test_the_reaper_ends_an_answer_on_a_branch(
    alice, conversation, connect, openai_upstream
):
    tab = await connect(alice, conversation.pk)
    first = await ask(tab, "one")
    question = (await stored(first["message_id"])).parent_id
    await finish(tab, type="edit", message_id=question, content="uno")
    # An answer of the edited branch whose process died mid-way.
    leaf = await leaf_of(conversation)
    await Message.objects.filter(pk=leaf).aupdate(
        status="streaming", content="half", heartbeat_at=timezone.now()
    )
    await Message.objects.filter(pk=leaf).aupdate(
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )

    assert await replies.areap_replies() == 1

    done = (await tab.receive_until("reply.done", message_id=leaf))[-1]
    assert done["status"] == "interrupted"
    assert (await stored(leaf)).status == "interrupted"
    assert await leaf_of(conversation) == leaf


def test_the_staff_transcript_shows_the_shown_branch_first_and_marks_siblings(
    admin_client, conversation
):
    def say(role, content, parent=None):
        return Message.objects.create(
            conversation=conversation, role=role, content=content, parent=parent
        )

    question = say("user", "Q-original")
    old_answer = say("assistant", "A-old", question)
    say("user", "Q-later", old_answer)
    edited = say("user", "Q-edited")
    conversation.current_leaf = say("assistant", "A-edited", edited)
    conversation.save()

    page = admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/")

    body = page.content.decode()
    shown, others = body.split("Other branches")
    assert shown.index("Q-edited") < shown.index("A-edited")
    assert "Q-original" not in shown and "version 2 of 2" in shown
    assert others.index("Q-original") < others.index("A-old") < others.index("Q-later")
    assert "version 1 of 2" in others and "Branch from the start" in others
