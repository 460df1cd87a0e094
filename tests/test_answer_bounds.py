"""What one answer may cost: its context, its length and its time."""

import asyncio

import pytest

from chat.models import Conversation, Message
from chat.providers import Provider
from chat.providers.base import fit
from chat.replies.errors import REPLY_TIMEOUT_ERROR

pytestmark = pytest.mark.django_db(transaction=True)


def words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


async def test_the_context_sent_upstream_drops_oldest_turns_keeping_the_system_prompt(
    alice, connect, openai_upstream, settings
):
    settings.CHAT_SYSTEM_PROMPT = "Be brief."
    settings.CHAT_CONTEXT_TOKENS = 300
    conversation = await Conversation.objects.acreate(user=alice)
    answer = None
    for turn in range(6):  # each turn ~100 tokens (400 characters) each way
        question = await Message.objects.acreate(
            conversation=conversation,
            role="user",
            content=f"q{turn} " + "x" * 400,
            parent=answer,
        )
        answer = await Message.objects.acreate(
            conversation=conversation,
            role="assistant",
            content=f"a{turn} " + "y" * 400,
            parent=question,
        )
    conversation.current_leaf = answer
    await conversation.asave(update_fields=["current_leaf"])
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="the newest question")
    await socket.receive_until("reply.done")

    sent = openai_upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[-1] == {"role": "user", "content": "the newest question"}
    assert [m["content"][:2] for m in sent[1:-1]] == ["q5", "a5"]
    assert Provider().measure(sent) <= 300


def test_a_single_message_longer_than_the_context_keeps_its_newest_words():
    provider = Provider()
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": words(2000, "w")},
    ]

    fitted = fit(messages, 200, provider.measure)

    assert fitted[0] == messages[0]
    assert messages[1]["content"].endswith(fitted[1]["content"])
    assert fitted[1]["content"].endswith("w1999")
    assert provider.measure(fitted) <= 200


async def test_an_answer_is_capped_at_chat_max_tokens_upstream(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MAX_TOKENS = 5
    openai_upstream.script(tokens=[f"t{i} " for i in range(50)])
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="go on and on")
    done = (await socket.receive_until("reply.done"))[-1]

    assert openai_upstream.requests[-1]["max_tokens"] == 5
    message = await Message.objects.aget(pk=done["message_id"])
    assert message.finish_reason == "length" and message.completion_tokens == 5


async def test_an_answer_past_its_time_ends_failed_keeping_its_text(
    alice, conversation, connect, openai_upstream, settings
):
    # Each token arrives well within the per-read timeout; the whole does not.
    settings.CHAT_REQUEST_TIMEOUT_S = 5
    settings.CHAT_REPLY_TIMEOUT_S = 0.5
    openai_upstream.script(tokens=[f"t{i} " for i in range(500)], delay=0.02)
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="a long one")
    done = (await socket.receive_until("reply.done"))[-1]

    message = await Message.objects.aget(pk=done["message_id"])
    assert message.status == done["status"] == "failed"
    assert message.error == done["error"] == REPLY_TIMEOUT_ERROR
    assert message.content.startswith("t0 t1 ") and len(message.content.split()) < 500
    assert await asyncio.to_thread(openai_upstream.wait_for_disconnect, 5)
