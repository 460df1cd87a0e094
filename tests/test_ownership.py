"""Nothing overwritten, nothing leaked: runs write only answers they still own;
sign-outs, deletions and moderation reach every socket and run."""

import asyncio
import logging
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db.models.functions import Now
from django.test import Client
from django.utils import timezone

from chat import accounts, fanout, replies
from chat.consumers import ChatConsumer
from chat.models import Conversation, Message
from chat.replies import turns, wire
from chat.replies.run import ReplyRun
from tests.conftest import ORIGIN
from tests.servers import session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("orm_thread"),
]

SLOW = {"tokens": [f"w{i} " for i in range(500)], "delay": 0.02}


async def stored(message_id: int) -> Message:
    return await Message.objects.aget(pk=message_id)


async def start_slow_reply(socket, upstream) -> ReplyRun:
    upstream.script(**SLOW)
    await socket.send(type="send", content="a long one")
    delta = (await socket.receive_until("reply.delta"))[-1]
    return replies.local_run(delta["message_id"])


async def frames_left(socket) -> list[dict]:
    frames = []
    while not await socket.nothing(0.1):
        frames.append(await socket.receive())
    return frames


# A run writes only while the answer is still its own.


async def test_a_run_whose_answer_was_reaped_stops_without_overwriting_it(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_CHECKPOINT_S = 0.05
    socket = await connect(alice, conversation.pk)
    run = await start_slow_reply(socket, openai_upstream)

    # Another process's reaper (with a clock far ahead) takes it for dead.
    reaped = await sync_to_async(replies.reap_replies)(stale_after_s=-3600)
    await replies.tell_reaped(reaped)
    await asyncio.wait_for(run.finished(), 5)

    assert [m.pk for m in reaped] == [run.message_id]
    assert await openai_upstream.await_disconnect(5)
    message = await stored(run.message_id)
    assert message.status == Message.Status.INTERRUPTED
    assert message.content == reaped[0].content, "the run wrote nothing after"
    dones = [e for e in await frames_left(socket) if e["type"] == "reply.done"]
    assert [d["status"] for d in dones] == ["interrupted"]


async def test_a_failure_after_the_final_write_does_not_store_the_answer_again(
    conversation, openai_upstream, monkeypatch
):
    openai_upstream.script(text="All good.")
    send = ReplyRun._group_send

    async def done_fails(self, payload):
        if payload["type"] == "reply.done":
            raise ConnectionError("the channel layer went away")
        await send(self, payload)

    monkeypatch.setattr(ReplyRun, "_group_send", done_fails)

    turn = await replies.start_reply(conversation_id=conversation.pk, content="hi")
    await replies.local_run(turn.reply.pk).finished()

    message = await stored(turn.reply.pk)
    assert message.status == Message.Status.COMPLETE and message.content == "All good."
    assert message.completion_tokens and message.prompt_tokens


async def test_a_run_that_breaks_still_counts_the_tokens_it_used(
    conversation, openai_upstream, settings, monkeypatch
):
    settings.CHAT_CHECKPOINT_S = 0

    def checkpoint_breaks_once_there_is_text(rows):
        if any(content for _, _, content, _ in rows):
            raise RuntimeError("the database went away")
        return set()

    monkeypatch.setattr(
        turns, "store_checkpoints", checkpoint_breaks_once_there_is_text
    )
    openai_upstream.script(tokens=["word "] * 50, delay=0.01)

    turn = await replies.start_reply(conversation_id=conversation.pk, content="hi")
    await replies.local_run(turn.reply.pk).finished()

    message = await stored(turn.reply.pk)
    assert message.status == Message.Status.FAILED and message.content
    assert message.prompt_tokens and message.completion_tokens


def test_servers_with_skewed_clocks_never_reap_each_others_live_answers(
    conversation, monkeypatch
):
    real_now = timezone.now

    def clock_off_by(hours: int) -> None:
        monkeypatch.setattr(
            timezone, "now", lambda: real_now() + timedelta(hours=hours)
        )

    clock_off_by(-1)  # the server running the answer is an hour behind
    turn = turns.store_turn(
        conversation_id=conversation.pk, content="hi", client_id=None, run_channel="r"
    )
    assert turns.store_checkpoints([(turn.reply.pk, "r", "so far", "")]) == set()
    clock_off_by(+1)  # the reaping server an hour ahead

    assert replies.reap_replies() == []

    # Stale by the database's clock, it is reaped ("Now() - interval" works here).
    Message.objects.filter(pk=turn.reply.pk).update(
        heartbeat_at=Now() - timedelta(minutes=1)
    )
    assert [m.pk for m in replies.reap_replies()] == [turn.reply.pk]


def name_of(function) -> str:
    return function.__name__


# Deleting or deactivating stops the running answer, quietly.


def delete_conversation(conversation):
    conversation.delete()


def delete_person(conversation):
    conversation.user.delete()


def deactivate_person(conversation):
    conversation.user.is_active = False
    conversation.user.save(update_fields=["is_active"])


@pytest.mark.parametrize(
    "end",
    [delete_conversation, delete_person, deactivate_person],
    ids=name_of,
)
async def test_deleting_or_deactivating_stops_the_answer_and_its_upstream_stream(
    alice, conversation, connect, openai_upstream, caplog, settings, end
):
    settings.CHAT_CHECKPOINT_S = 3600  # told at once, not found out at a checkpoint
    socket = await connect(alice, conversation.pk)
    run = await start_slow_reply(socket, openai_upstream)

    with caplog.at_level(logging.ERROR):
        await sync_to_async(end)(conversation)
        assert await openai_upstream.await_disconnect(5)
        await asyncio.wait_for(run.finished(), 5)

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    message = await Message.objects.filter(pk=run.message_id).afirst()
    assert message is None or message.status == Message.Status.STOPPED


# Signing out reaches the sockets, on every process.


async def test_signing_out_closes_that_sessions_sockets_and_no_other(
    alice, conversation, connect
):
    browser = Client()
    await sync_to_async(browser.force_login)(alice)
    cookie = await sync_to_async(session_cookie)(alice, client=browser)
    signing_out = await connect(alice, conversation.pk, cookie=cookie)
    elsewhere = await connect(alice, conversation.pk)

    await sync_to_async(browser.post)("/accounts/logout/")

    closed = await signing_out.communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4401}
    assert await elsewhere.nothing()


def change_password(user):
    user.set_password("a-brand-new-password-9")
    user.save()


def deactivate(user):
    user.is_active = False
    user.save()


@pytest.mark.parametrize("change", [change_password, deactivate], ids=name_of)
async def test_a_new_password_or_deactivation_closes_every_socket_of_the_person(
    alice, bob, conversation, connect, change
):
    sockets = [await connect(alice, conversation.pk) for _ in range(2)]
    bobs = await connect(bob, (await Conversation.objects.acreate(user=bob)).pk)

    await sync_to_async(change)(alice)

    for socket in sockets:
        closed = await socket.communicator.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": 4401}
    assert await bobs.nothing()


async def test_a_consumer_that_dies_still_leaves_its_groups(
    alice, conversation, monkeypatch
):
    from chatsite.asgi import application

    cookie = await sync_to_async(session_cookie)(alice)
    communicator = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[ORIGIN, (b"cookie", cookie.encode())],
    )
    assert (await communicator.connect())[0]
    await communicator.send_to(text_data='{"type": "dance"}')
    await communicator.receive_from()  # its error: connect() has finished
    layer = get_channel_layer()
    left = []
    discard = layer.group_discard

    async def recording_discard(group, channel):
        left.append(group)
        await discard(group, channel)

    monkeypatch.setattr(layer, "group_discard", recording_discard)

    async def broken(self, event):
        raise RuntimeError("a bug in the consumer")

    monkeypatch.setattr(ChatConsumer, "user_signed_out", broken)
    await layer.group_send(
        accounts.user_group_name(alice.pk), {"type": "user.signed_out"}
    )

    with pytest.raises(RuntimeError, match="a bug in the consumer"):
        await communicator.wait(timeout=5)
    # The conversation's group loses this process's hub: its last follower left.
    assert sorted(left) == sorted(
        [wire.group_name_for(conversation.pk), accounts.user_group_name(alice.pk)]
    )
    assert conversation.pk not in fanout.hub().followers


# A withheld answer stays with staff.


def withheld_answer(conversation) -> Message:
    question = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="tell me"
    )
    answer = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.FAILED,
        content="the withheld words",
        error="Moderation stopped this answer (violence). It is kept for review.",
        withheld=True,
        parent=question,
    )
    conversation.current_leaf = answer
    conversation.save(update_fields=["current_leaf"])
    return answer


async def test_a_withheld_answer_is_not_in_a_resync(alice, conversation, connect):
    answer = await sync_to_async(withheld_answer)(conversation)
    socket = await connect(alice, conversation.pk)

    await socket.send(type="resync", message_id=answer.pk)

    snapshot, done = await socket.receive(), await socket.receive()
    assert snapshot["text"] == "" and done["html"] == ""
    assert "withheld words" not in str((snapshot, done))


async def test_a_withheld_answer_is_not_in_the_models_history(
    alice, conversation, connect, openai_upstream
):
    await sync_to_async(withheld_answer)(conversation)
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="and now?")
    await socket.receive_until("reply.done")

    assert openai_upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "tell me"},
        {"role": "user", "content": "and now?"},
    ]
