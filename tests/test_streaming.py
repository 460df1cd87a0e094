"""A reply end to end: websocket → run → OpenAI SDK → test upstream → database."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from chat import replies
from chat.models import Message
from chat.providers import Provider, TextDelta
from chat.replies import turns
from chat.replies.errors import UNEXPECTED_ERROR
from chat.replies.turns import title_from
from tests.conftest import text_of
from tests.upstream import emoji_tokens

pytestmark = pytest.mark.django_db(transaction=True)


async def stored(message_id: int) -> Message:
    return await Message.objects.aget(pk=message_id)


async def send_and_finish(socket, content: str, **kwargs) -> tuple[list, dict]:
    await socket.send(type="send", content=content, **kwargs)
    events = await socket.receive_until("reply.done")
    return events, events[-1]


async def test_a_reply_streams_in_deltas_and_is_stored_as_rendered_html(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(text="# Hi\n\nHere is **bold** and `code`.", delay=0.01)
    socket = await connect(alice, conversation.pk)

    events, done = await send_and_finish(socket, "Say hi", client_id="c1")

    kinds = [event["type"] for event in events]
    assert kinds[0] == "message"
    assert events[0]["message"]["role"] == "user"
    assert events[0]["client_id"] == "c1"
    assert "reply.start" in kinds
    assert kinds.count("reply.delta") > 1
    message = await stored(done["message_id"])
    assert text_of(events, message.pk) == message.content
    assert message.content == "# Hi\n\nHere is **bold** and `code`."
    assert message.status == Message.Status.COMPLETE
    assert done["html"] == message.html
    assert "<h1>Hi</h1>" in message.html and "<strong>bold</strong>" in message.html
    assert message.prompt_tokens and message.completion_tokens
    assert done["usage"] == {
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
    }
    assert message.finish_reason == "stop"
    assert message.ttft_ms is not None and message.duration_ms >= message.ttft_ms
    assert message.model == "test-model"


async def test_offsets_count_code_points_in_a_reply_full_of_emoji(
    alice, conversation, connect, openai_upstream
):
    tokens = emoji_tokens(60)
    openai_upstream.script(tokens=tokens)
    socket = await connect(alice, conversation.pk)

    events, done = await send_and_finish(socket, "emoji please")

    message = await stored(done["message_id"])
    assert message.content == "".join(tokens)
    assert any(ord(ch) > 0xFFFF for ch in message.content)
    assert text_of(events, message.pk) == message.content


async def test_the_first_message_titles_the_conversation(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)

    events, _ = await send_and_finish(socket, "Plan a trip to Lisbon\nwith kids")

    await conversation.arefresh_from_db()
    assert conversation.title == "Plan a trip to Lisbon"
    titles = [e for e in events if e["type"] == "conversation"]
    assert titles == [
        {
            "type": "conversation",
            "id": conversation.pk,
            "title": "Plan a trip to Lisbon",
        }
    ]


async def test_stop_keeps_the_partial_text_and_closes_the_upstream_stream(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(tokens=[f"w{i} " for i in range(500)], delay=0.02)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="long one")
    events = await socket.receive_until("reply.delta")
    message_id = events[-1]["message_id"]

    await socket.send(type="stop", message_id=message_id)
    events += await socket.receive_until("reply.done")

    message = await stored(message_id)
    assert message.status == Message.Status.STOPPED
    assert message.content and message.content == text_of(events, message_id)
    assert len(message.content.split()) < 500
    assert await asyncio.to_thread(openai_upstream.wait_for_disconnect, 5)


@pytest.mark.parametrize(
    ("script", "words", "keeps_text"),
    [
        ({"fail_status": 401}, "API key", False),
        ({"fail_status": 429}, "rate limiting", False),
        ({"fail_status": 500}, "failed (500)", False),
        ({"drop_after": 5}, "connection to the model service was lost", True),
        ({"stall_after": 5}, "took too long", True),
    ],
    ids=["bad-key", "rate-limit", "server-error", "dropped", "timeout"],
)
async def test_each_upstream_failure_ends_failed_with_its_text_and_a_clear_error(
    alice, conversation, connect, openai_upstream, settings, script, words, keeps_text
):
    settings.CHAT_REQUEST_TIMEOUT_S = 0.5
    openai_upstream.script(tokens=[f"part{i} " for i in range(50)], **script)
    socket = await connect(alice, conversation.pk)

    events, done = await send_and_finish(socket, "hello")

    message = await stored(done["message_id"])
    assert message.status == Message.Status.FAILED
    assert words in message.error and done["error"] == message.error
    assert message.content == text_of(events, message.pk)
    assert message.content == ("part0 part1 part2 part3 part4 " if keeps_text else "")
    # The person can send again once it failed.
    openai_upstream.script(text="Recovered.")
    _, done = await send_and_finish(socket, "again")
    assert (await stored(done["message_id"])).content == "Recovered."


async def test_a_reply_outlives_the_socket_that_asked_for_it(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(tokens=[f"t{i} " for i in range(30)], delay=0.01)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="go")
    start = (await socket.receive_until("reply.start"))[-1]
    run = replies.local_run(start["message_id"])

    await socket.close()
    await asyncio.wait_for(run.finished(), 10)

    message = await stored(start["message_id"])
    assert message.status == Message.Status.COMPLETE
    assert message.content == "".join(f"t{i} " for i in range(30))


async def test_a_second_tab_gets_a_snapshot_then_follows_the_stream(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(tokens=[f"t{i} " for i in range(60)], delay=0.01)
    first = await connect(alice, conversation.pk)
    await first.send(type="send", content="go")
    await first.receive_until("reply.delta")
    await first.receive_until("reply.delta")

    second = await connect(alice, conversation.pk)
    events = await second.receive_until("reply.done")

    snapshot = next(e for e in events if e["type"] == "reply.snapshot")
    assert snapshot["text"], "the snapshot carries the text so far"
    message = await stored(events[-1]["message_id"])
    assert text_of(events, message.pk) == message.content
    assert message.content == "".join(f"t{i} " for i in range(60))


async def test_resync_of_a_finished_reply_answers_with_snapshot_and_done(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    _, done = await send_and_finish(socket, "hello")

    await socket.send(type="resync", message_id=done["message_id"])

    snapshot = await socket.receive()
    again = await socket.receive()
    message = await stored(done["message_id"])
    assert snapshot == {
        "type": "reply.snapshot",
        "message_id": message.pk,
        "text": message.content,
        "upto": 0,  # nothing settled to preview: reply.done's HTML follows
        "html": "",
    }
    assert again == done


async def test_a_slow_reply_sends_heartbeats_with_its_offset(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_HEARTBEAT_S = 0.05
    openai_upstream.script(tokens=["a", "b", "c"], delay=0.3)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="slow")

    events = await socket.receive_until("reply.heartbeat")
    events += await socket.receive_until("reply.done")

    beats = [e for e in events if e["type"] == "reply.heartbeat"]
    assert beats and all(isinstance(b["offset"], int) for b in beats)
    assert text_of(events, events[-1]["message_id"]) == "abc"


async def test_sending_while_a_reply_streams_is_refused_as_busy_before_moderation(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MODERATION = "openai"  # a flood of sends must not reach it
    openai_upstream.script(tokens=["x "] * 100, delay=0.02)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="first")
    start = (await socket.receive_until("reply.start"))[-1]

    await socket.send(type="send", content="second")
    error = (await socket.receive_until("error"))[-1]

    assert error["code"] == "busy"
    assert "second" not in openai_upstream.moderation_inputs
    await socket.send(type="stop", message_id=start["message_id"])
    await socket.receive_until("reply.done")
    assert await Message.objects.filter(role="user").acount() == 1


async def test_a_retried_send_with_a_stored_client_id_starts_nothing(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    await send_and_finish(socket, "once", client_id="same-id")

    await socket.send(type="send", content="once", client_id="same-id")
    echo = await socket.receive()

    assert echo["type"] == "message" and echo["client_id"] == "same-id"
    assert await socket.nothing()
    assert await Message.objects.acount() == 2
    assert len(openai_upstream.requests) == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "send", "content": 42}', "bad_request"),
        ('{"type": "send", "content": "   "}', "empty"),
        ('{"type": "stop", "message_id": "7"}', "bad_request"),
        ('{"type": "stop", "message_id": 999999}', "not_found"),
        ('{"type": "regenerate", "message_id": 999999}', "not_found"),
        ('{"type": "resync"}', "bad_request"),
        # json.loads raises RecursionError, not ValueError, on deep nesting.
        ("[" * 100_000, "bad_request"),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else value,
)
async def test_bad_input_gets_an_error_and_the_socket_stays_open(
    alice, conversation, connect, openai_upstream, frame, code
):
    socket = await connect(alice, conversation.pk)

    await socket.communicator.send_to(text_data=frame)
    error = await socket.receive()

    assert error["type"] == "error" and error["code"] == code and error["message"]
    _, done = await send_and_finish(socket, "still here?")
    assert done["status"] == "complete"


async def test_a_message_over_the_limit_is_refused_and_nothing_is_stored(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MAX_MESSAGE_CHARS = 10
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="x" * 11)

    assert (await socket.receive())["code"] == "too_long"
    assert await Message.objects.acount() == 0


async def test_stopping_a_finished_reply_says_so(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    _, done = await send_and_finish(socket, "hello")

    await socket.send(type="stop", message_id=done["message_id"])

    assert (await socket.receive())["code"] == "not_running"


async def test_regenerate_answers_the_same_message_again_without_the_old_answer(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    openai_upstream.script(fail_status=500)
    _, failed = await send_and_finish(socket, "What is 2+2?")
    openai_upstream.script(text="4")

    await socket.send(type="regenerate", message_id=failed["message_id"])
    events = await socket.receive_until("reply.done")

    again = await stored(events[-1]["message_id"])
    assert again.pk != failed["message_id"] and again.content == "4"
    assert again.parent_id == (await stored(failed["message_id"])).parent_id
    sent = openai_upstream.requests[-1]["messages"]
    assert sent == [{"role": "user", "content": "What is 2+2?"}]


async def test_the_history_sent_upstream_holds_the_earlier_turns(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_SYSTEM_PROMPT = "Be brief."
    socket = await connect(alice, conversation.pk)
    openai_upstream.script(text="Paris.")
    await send_and_finish(socket, "Capital of France?")

    await send_and_finish(socket, "And of Italy?")

    assert openai_upstream.requests[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ]


async def test_hostile_model_output_is_stored_without_scripts(
    alice, conversation, connect, openai_upstream
):
    hostile = (
        "<script>alert(1)</script>\n\n"
        "[x](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    openai_upstream.script(text=hostile)
    socket = await connect(alice, conversation.pk)

    _, done = await send_and_finish(socket, "be evil")

    html = done["html"].lower()
    assert "<script" not in html and "<img" not in html
    assert "javascript:" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


async def test_the_reaper_marks_a_reply_whose_process_died_as_interrupted(
    alice, conversation, connect
):
    dead = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content="half an ans",
        run_channel="specific.gone!x",
        heartbeat_at=None,
    )
    await Message.objects.filter(pk=dead.pk).aupdate(
        heartbeat_at=dead.created_at.replace(year=2000)
    )
    socket = await connect(alice, conversation.pk)

    assert await replies.areap_replies() == 1

    done = (await socket.receive_until("reply.done"))[-1]
    message = await stored(dead.pk)
    assert message.status == Message.Status.INTERRUPTED
    assert message.content == "half an ans" and message.html == "<p>half an ans</p>"
    assert done["status"] == "interrupted" and done["error"] == message.error


async def test_the_reaper_spares_fresh_replies(alice, conversation):
    from django.utils import timezone

    await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        heartbeat_at=timezone.now(),
    )

    assert await sync_to_async(replies.reap_replies)() == []


async def test_a_burst_of_tokens_shares_frames_within_the_flush_window(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_FLUSH_MS = 50
    openai_upstream.script(tokens=[f"{i} " for i in range(400)])
    socket = await connect(alice, conversation.pk)

    events, done = await send_and_finish(socket, "fast")

    deltas = [e for e in events if e["type"] == "reply.delta"]
    assert len(deltas) < 400
    assert text_of(events, done["message_id"]) == "".join(f"{i} " for i in range(400))


async def test_a_token_that_arrives_alone_goes_out_at_once_despite_the_window(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_FLUSH_MS = 10_000
    openai_upstream.script(tokens=["one ", "two ", "three"], delay=0.05)
    socket = await connect(alice, conversation.pk)

    events, _ = await send_and_finish(socket, "slow")

    deltas = [e["text"] for e in events if e["type"] == "reply.delta"]
    assert deltas == ["one ", "two ", "three"]


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("# Sorting in Python\nbody", "Sorting in Python"),
        ("> quoted question", "quoted question"),
        ("- item", "item"),
        ("x" * 70, "x" * 60 + "…"),
        ("###", "###"),
    ],
)
def test_titles_drop_leading_markdown_and_stay_short(content, title):
    assert title_from(content) == title


async def test_a_stream_cut_short_without_a_length_ends_failed_not_complete(
    alice, conversation, connect, openai_upstream, settings
):
    # A close-delimited body (no chunked encoding) that stops mid-answer looks
    # like a short answer unless [DONE] or a finish_reason is required.
    async def half_an_answer(reader, writer):
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        chunk = {"choices": [{"index": 0, "delta": {"content": "Half an"}}]}
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Connection: close\r\n\r\ndata: " + json.dumps(chunk).encode() + b"\n\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(half_an_answer, "127.0.0.1", 0)
    settings.OPENAI_BASE_URL = (
        f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    )
    socket = await connect(alice, conversation.pk)

    async with server:
        _, done = await send_and_finish(socket, "hello")

    message = await stored(done["message_id"])
    assert message.status == Message.Status.FAILED
    assert message.content == "Half an"
    assert "connection to the model service was lost" in message.error


class ExplodingProvider(Provider):
    """A backend with a bug: some text, then an exception that is no ProviderError."""

    def default_model(self) -> str:
        return "exploding"

    async def stream(self, *, messages, model):
        yield TextDelta("partial ")
        raise RuntimeError("a bug in a provider")


async def test_a_provider_bug_ends_the_reply_failed_with_its_text_and_a_plain_error(
    alice, conversation, connect, settings
):
    settings.CHAT_PROVIDER = "tests.test_streaming.ExplodingProvider"
    socket = await connect(alice, conversation.pk)

    _, done = await send_and_finish(socket, "hello")

    message = await stored(done["message_id"])
    assert message.status == Message.Status.FAILED
    assert message.content == "partial " and message.model == "exploding"
    assert message.error == UNEXPECTED_ERROR
    assert "RuntimeError" not in message.error


async def test_a_person_over_the_daily_token_quota_gets_a_clear_error(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_DAILY_TOKEN_QUOTA = 10
    openai_upstream.script(tokens=["word "] * 20, prompt_tokens=5)
    socket = await connect(alice, conversation.pk)
    _, done = await send_and_finish(socket, "first")
    assert done["status"] == "complete"

    await socket.send(type="send", content="second", client_id="q2")
    error = await socket.receive()

    assert error["code"] == "quota" and "10 tokens" in error["message"]
    assert error["client_id"] == "q2"
    assert await Message.objects.filter(role="user").acount() == 1


async def test_an_old_socket_is_closed_so_the_page_reconnects_as_a_new_member(
    alice, conversation, connect, settings
):
    settings.CHAT_SOCKET_MAX_AGE_S = 0.05
    socket = await connect(alice, conversation.pk)

    # The close may come before or after the fixture's "joined?" probe's answer.
    while socket.close_code is None:
        output = await socket.communicator.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            socket.close_code = output.get("code")

    assert socket.close_code == 4000


async def test_regenerating_while_an_answer_streams_is_refused_as_busy(
    alice, conversation, connect, openai_upstream
):
    socket = await connect(alice, conversation.pk)
    _, first = await send_and_finish(socket, "one")
    openai_upstream.script(tokens=["x "] * 100, delay=0.02)
    await socket.send(type="send", content="two")
    start = (await socket.receive_until("reply.start"))[-1]

    await socket.send(type="regenerate", message_id=first["message_id"])
    error = (await socket.receive_until("error"))[-1]

    assert error["code"] == "busy" and error["request"] == "regenerate"
    await socket.send(type="stop", message_id=start["message_id"])
    await socket.receive_until("reply.done")
    assert await Message.objects.filter(role="assistant").acount() == 2


async def test_a_run_that_breaks_stops_its_moderation_watcher_and_ends_failed(
    alice, conversation, connect, openai_upstream, settings, monkeypatch
):
    settings.CHAT_MODERATION = "openai"
    settings.CHAT_MODERATION_INTERVAL_S = 0.01
    settings.CHAT_CHECKPOINT_S = 0

    def broken_checkpoints(rows):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(turns, "store_checkpoints", broken_checkpoints)
    openai_upstream.script(tokens=["slow "] * 50, delay=0.02)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="hello")
    start = (await socket.receive_until("reply.start"))[-1]
    run = replies.local_run(start["message_id"])

    done = (await socket.receive_until("reply.done"))[-1]
    await asyncio.wait_for(run.finished(), 5)

    assert done["status"] == "failed" and done["error"] == UNEXPECTED_ERROR
    assert run.watcher.done() and run.pump.done()
