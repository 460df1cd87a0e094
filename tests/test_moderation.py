"""Moderation on a stream: messages before the model, answers as they grow."""

import asyncio

import pytest

from chat.models import Flag, Message
from chat.moderation import Moderator
from tests.upstream import MODERATION_MARKER

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def moderated(openai_upstream, settings):
    settings.CHAT_MODERATION = "openai"
    settings.CHAT_MODERATION_INTERVAL_S = 0.05
    return openai_upstream


async def test_a_flagged_message_is_refused_before_it_reaches_the_model(
    alice, conversation, connect, moderated
):
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content=f"say {MODERATION_MARKER}", client_id="m1")
    error = await socket.receive()

    assert error["type"] == "error" and error["code"] == "moderated"
    assert "violence" in error["message"] and error["client_id"] == "m1"
    assert await Message.objects.acount() == 0
    assert moderated.requests == []
    await socket.send(type="send", content="a kind question")
    assert (await socket.receive_until("reply.done"))[-1]["status"] == "complete"


async def test_an_answer_that_turns_bad_is_cut_off_while_it_streams_and_kept_for_staff(
    alice, conversation, connect, moderated
):
    tokens = ["fine "] * 10 + [f"{MODERATION_MARKER} "] + ["more "] * 300
    moderated.script(tokens=tokens, delay=0.01)
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="tell me a story")
    done = (await socket.receive_until("reply.done"))[-1]

    message = await Message.objects.aget(pk=done["message_id"])
    assert message.status == Message.Status.FAILED and done["status"] == "failed"
    assert "Moderation stopped this answer (violence)" in message.error
    assert MODERATION_MARKER in message.content, "kept for staff review"
    assert message.content.count("more ") < 300, "cut off, not finished"
    assert message.html == "" and done["html"] == "" and message.withheld
    flag = await Flag.objects.aget(message=message)
    assert flag.reason == Flag.Reason.HARMFUL and "violence" in flag.note
    assert await asyncio.to_thread(moderated.wait_for_disconnect, 5)


async def test_the_end_of_an_answer_is_checked_even_when_it_beats_the_interval(
    alice, conversation, connect, moderated, settings
):
    settings.CHAT_MODERATION_INTERVAL_S = 3600
    moderated.script(tokens=["all ", "good ", "until ", MODERATION_MARKER])
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="quick one")
    done = (await socket.receive_until("reply.done"))[-1]

    assert done["status"] == "failed" and done["html"] == ""
    assert moderated.moderation_inputs[-1] == "all good until " + MODERATION_MARKER


async def test_a_clean_answer_is_checked_and_passes(
    alice, conversation, connect, moderated
):
    moderated.script(text="A calm and helpful answer.")
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="hello")
    done = (await socket.receive_until("reply.done"))[-1]

    assert done["status"] == "complete"
    assert moderated.moderation_inputs[0] == "hello"
    assert moderated.moderation_inputs[-1] == "A calm and helpful answer."


class BrokenModerator(Moderator):
    async def check(self, text):
        raise ConnectionError("moderation is down")


async def test_a_moderation_outage_lets_text_through(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MODERATION = "tests.test_moderation.BrokenModerator"
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content=f"{MODERATION_MARKER} anyway")

    assert (await socket.receive_until("reply.done"))[-1]["status"] == "complete"


async def test_moderation_is_off_unless_configured(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content=f"{MODERATION_MARKER} is fine here")

    assert (await socket.receive_until("reply.done"))[-1]["status"] == "complete"
    assert openai_upstream.moderation_inputs == []


def test_a_withheld_answer_never_reaches_the_page_again(client, alice, conversation):
    conversation.current_leaf = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.FAILED,
        content=f"something {MODERATION_MARKER}",
        html="",
        error="Moderation stopped this answer (violence). It is kept for review.",
    )
    conversation.save()
    client.force_login(alice)

    page = client.get(f"/c/{conversation.pk}/").content.decode()

    assert MODERATION_MARKER not in page
    assert "Moderation stopped this answer" in page


async def test_with_moderation_failing_closed_an_outage_refuses_the_message(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MODERATION = "tests.test_moderation.BrokenModerator"
    settings.CHAT_MODERATION_FAIL = "closed"
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="hello", client_id="c1")
    error = await socket.receive()

    assert error["code"] == "moderation_unavailable" and error["client_id"] == "c1"
    assert await Message.objects.acount() == 0
    assert openai_upstream.requests == []
