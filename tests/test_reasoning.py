"""Thinking shown apart: streamed, snapshotted, stored and kept out of the history.

Every test goes through the real path: websocket → run → OpenAI SDK → the test
upstream, which streams thinking in each of the three forms servers use.
"""

import pytest
from django.contrib.auth import get_user_model

from chat.models import Message
from chat.replies import turns
from chat.replies.checkpoints import checkpoints
from tests.conftest import text_of
from tests.upstream import MODERATION_MARKER, split_tokens

pytestmark = pytest.mark.django_db(transaction=True)

THOUGHT = "The user wants **a greeting**. Keep it short."
ANSWER = "Hello there!"

FORMS = {
    "reasoning_content": {
        "reasoning": split_tokens(THOUGHT),
        "reasoning_field": "reasoning_content",
        "text": ANSWER,
    },
    "reasoning": {
        "reasoning": split_tokens(THOUGHT),
        "reasoning_field": "reasoning",
        "text": ANSWER,
    },
    # Cut so that both tags straddle chunks.
    "think tags": {
        "tokens": [
            "<th",
            "ink>",
            *split_tokens(THOUGHT),
            "</thi",
            "nk>\n\n",
            "Hello ",
            "there!",
        ]
    },
}


def deltas(events: list, part: str) -> list[dict]:
    return [
        e
        for e in events
        if e["type"] == "reply.delta" and e.get("part", "answer") == part
    ]


@pytest.mark.parametrize("form", FORMS)
async def test_each_form_of_thinking_streams_as_its_own_part_and_is_stored_apart(
    form, alice, conversation, connect, openai_upstream
):
    openai_upstream.script(**FORMS[form], delay=0.005)
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="hi", client_id="r1")
    events = await socket.receive_until("reply.done")

    done = events[-1]
    message = await Message.objects.aget(pk=done["message_id"])
    assert message.reasoning == THOUGHT
    assert message.content == ANSWER
    assert text_of(events, message.pk, "reasoning") == THOUGHT
    assert text_of(events, message.pk) == ANSWER
    thinking = deltas(events, "reasoning")
    assert thinking and all(e["part"] == "reasoning" for e in thinking)
    assert "part" not in deltas(events, "answer")[0], "answers look as they did"
    # The thinking came first, so it ended before the answer began.
    assert events.index(thinking[-1]) < events.index(deltas(events, "answer")[0])
    assert "<strong>a greeting</strong>" in message.reasoning_html
    assert "think" not in message.html
    assert message.reasoning_ms is not None
    assert done["reasoning_html"] == message.reasoning_html
    assert done["reasoning_ms"] == message.reasoning_ms
    if form == "think tags":  # the server counted it all as content
        assert message.reasoning_tokens is None
    else:
        assert message.reasoning_tokens == len(split_tokens(THOUGHT))
        assert done["reasoning_tokens"] == message.reasoning_tokens
        assert message.completion_tokens == message.reasoning_tokens + len(
            split_tokens(ANSWER)
        )


async def test_an_answer_without_thinking_stores_and_sends_none(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(text=ANSWER)
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="hi")
    events = await socket.receive_until("reply.done")

    message = await Message.objects.aget(pk=events[-1]["message_id"])
    assert not deltas(events, "reasoning")
    assert (message.reasoning, message.reasoning_html) == ("", "")
    assert message.reasoning_ms is None and message.reasoning_tokens is None


async def test_a_tab_joining_while_the_model_thinks_gets_the_thinking_in_its_snapshot(
    alice, conversation, connect, openai_upstream
):
    thought = [f"step{i} " for i in range(200)]
    openai_upstream.script(reasoning=thought, text=ANSWER, delay=0.01)
    first = await connect(alice, conversation.pk)
    await first.send(type="send", content="think hard")
    seen = await first.receive_until("reply.delta", part="reasoning")
    message_id = seen[-1]["message_id"]

    second = await connect(alice, conversation.pk)
    later = await second.receive_until("reply.snapshot")
    snapshot = later[-1]
    later += await second.receive_until("reply.done")
    await first.receive_until("reply.done")

    assert snapshot["reasoning"] and "".join(thought).startswith(snapshot["reasoning"])
    assert snapshot["text"] == ""
    assert text_of(later, message_id, "reasoning") == "".join(thought)
    assert text_of(later, message_id) == ANSWER


async def test_resync_of_a_finished_answer_carries_both_parts(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(reasoning=split_tokens(THOUGHT), text=ANSWER)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="hi")
    done = (await socket.receive_until("reply.done"))[-1]

    await socket.send(type="resync", message_id=done["message_id"])
    snapshot = (await socket.receive_until("reply.snapshot"))[-1]
    again = (await socket.receive_until("reply.done"))[-1]

    assert (snapshot["reasoning"], snapshot["text"]) == (THOUGHT, ANSWER)
    assert again == done


async def test_a_checkpoint_keeps_the_thinking_so_far(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_CHECKPOINT_S = 0.01
    settings.CHAT_HEARTBEAT_S = 0.2
    openai_upstream.script(
        reasoning=split_tokens(THOUGHT), tokens=["Hel", "lo"], stall_after=2
    )
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="hi")
    events = await socket.receive_until("reply.delta", text="lo")
    events += await socket.receive_until("reply.heartbeat")
    await checkpoints().next_round()  # one that starts with all the text sent

    message_id = events[-1]["message_id"]
    message = await Message.objects.aget(pk=message_id)
    assert (message.reasoning, message.content) == (THOUGHT, "Hello")
    assert events[-1]["reasoning_offset"] == len(THOUGHT)
    await socket.send(type="stop", message_id=message_id)
    await socket.receive_until("reply.done")


@pytest.mark.parametrize("in_history", [False, True])
async def test_earlier_thinking_goes_back_upstream_only_when_the_setting_says_so(
    in_history, alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_REASONING_IN_HISTORY = in_history
    openai_upstream.script(reasoning=split_tokens(THOUGHT), text=ANSWER)
    openai_upstream.script(text="Fine.")
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="hi")
    await socket.receive_until("reply.done")

    await socket.send(type="send", content="and now?")
    await socket.receive_until("reply.done")

    sent = openai_upstream.requests[-1]["messages"]
    answers = [m["content"] for m in sent if m["role"] == "assistant"]
    if in_history:
        assert answers == [f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}"]
    else:
        assert answers == [ANSWER]


def test_a_withheld_answer_sends_no_thinking_back_even_with_the_setting_on(
    alice, conversation, settings
):
    settings.CHAT_REASONING_IN_HISTORY = True
    user = Message.objects.create(conversation=conversation, role="user", content="q")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=user,
        content="bad",
        reasoning="secret",
        withheld=True,
    )
    question = Message.objects.create(
        conversation=conversation, role="user", content="again", parent=user
    )

    history = turns.history_for(conversation, up_to=question)

    assert all("secret" not in m["content"] for m in history)


async def test_thinking_that_turns_bad_withholds_the_answer_and_its_thinking(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MODERATION = "openai"
    settings.CHAT_MODERATION_INTERVAL_S = 0.05
    openai_upstream.script(
        reasoning=["fine "] * 5 + [f"{MODERATION_MARKER} "], text=ANSWER
    )
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="hi")
    done = (await socket.receive_until("reply.done"))[-1]

    message = await Message.objects.aget(pk=done["message_id"])
    assert message.withheld and MODERATION_MARKER in message.reasoning
    assert done["reasoning"] == "" and done["reasoning_html"] == ""
    assert message.reasoning_html == ""
    assert message.shown_reasoning == ""


def test_the_staff_transcript_shows_the_thinking_collapsed(client, alice, conversation):
    staff = get_user_model().objects.create_superuser("root", password="pw-root")
    client.force_login(staff)
    user = Message.objects.create(conversation=conversation, role="user", content="q")
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=user,
        content=ANSWER,
        html=f"<p>{ANSWER}</p>",
        reasoning=THOUGHT,
        reasoning_html="<p>The user wants <strong>a greeting</strong>.</p>",
        reasoning_ms=2400,
        reasoning_tokens=11,
    )
    conversation.current_leaf = answer
    conversation.save()

    page = client.get(f"/admin/chat/conversation/{conversation.pk}/change/")

    html = page.content.decode()
    assert '<details class="review-reasoning">' in html
    assert "Thought for 2 s · 11 reasoning tokens" in html
    assert "<strong>a greeting</strong>" in html
