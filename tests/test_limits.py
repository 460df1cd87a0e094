"""Limits per person and per socket: refused with a clear error, nothing stored,
nothing sent upstream. (Across processes: tests/test_load.py.)"""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async

from chat.models import Conversation, Message, Profile
from chat.replies import limits

pytestmark = pytest.mark.django_db(transaction=True)


async def finish(socket, content: str, **kwargs) -> dict:
    await socket.send(type="send", content=content, **kwargs)
    return (await socket.receive_until("reply.done"))[-1]


async def set_profile(user, **limits_) -> None:
    await Profile.objects.aupdate_or_create(user=user, defaults=limits_)


async def test_a_person_past_their_messages_per_minute_is_refused_with_when_to_retry(
    alice, bob, conversation, connect, openai_upstream
):
    await set_profile(alice, messages_per_minute=2)  # the setting says 20
    socket = await connect(alice, conversation.pk)
    await finish(socket, "one")
    await finish(socket, "two")

    await socket.send(type="send", content="three", client_id="c3")
    error = (await socket.receive_until("error"))[-1]

    assert error["code"] == "rate_limited" and error["limit"] == 2
    assert 0 < error["retry_after_s"] <= 60 and "2 a minute" in error["message"]
    assert error["client_id"] == "c3" and error["request"] == "send"
    assert await Message.objects.filter(role="user").acount() == 2
    assert len(openai_upstream.requests) == 2
    # Someone else's bucket is their own.
    theirs = await Conversation.objects.acreate(user=bob)
    other = await connect(bob, theirs.pk)
    assert (await finish(other, "mine"))["status"] == "complete"


async def test_a_regeneration_counts_as_a_message(
    alice, conversation, connect, openai_upstream
):
    await set_profile(alice, messages_per_minute=1)
    socket = await connect(alice, conversation.pk)
    done = await finish(socket, "one")

    await socket.send(type="regenerate", message_id=done["message_id"])
    error = (await socket.receive_until("error"))[-1]

    assert error["code"] == "rate_limited" and error["request"] == "regenerate"
    assert await Message.objects.filter(role="assistant").acount() == 1


async def one_answer_streams_and_another_tab(alice, conversation, connect, upstream):
    """A long answer streams in `conversation`; a tab is open on another one."""
    other = await Conversation.objects.acreate(user=alice)
    first = await connect(alice, conversation.pk)
    second = await connect(alice, other.pk)
    upstream.script(tokens=["slow "] * 200, delay=0.02)
    await first.send(type="send", content="long")
    start = (await first.receive_until("reply.start"))[-1]
    # Its first delta: the upstream has the request (tests count upstream requests).
    await first.receive_until("reply.delta")
    return first, start, other, second


async def test_answers_streaming_in_other_conversations_count_against_the_limit(
    alice, conversation, connect, openai_upstream
):
    await set_profile(alice, concurrent_streams=1)
    first, start, other, second = await one_answer_streams_and_another_tab(
        alice, conversation, connect, openai_upstream
    )

    await second.send(type="send", content="meanwhile", client_id="m")
    error = (await second.receive_until("error"))[-1]

    assert error["code"] == "too_many_streams" and error["limit"] == 1
    assert error["retry_after_s"] is None and "Wait for one" in error["message"]
    assert not await Message.objects.filter(conversation=other).aexists()
    assert len(openai_upstream.requests) == 1
    await first.send(type="stop", message_id=start["message_id"])
    await first.receive_until("reply.done")
    assert (await finish(second, "now"))["status"] == "complete"


async def test_the_quota_counts_answers_still_streaming_so_parallel_starts_stop_at_it(
    alice, conversation, connect, openai_upstream, settings
):
    # Before this, the quota read only finished answers: both would start.
    settings.CHAT_DAILY_TOKEN_QUOTA = 1000
    settings.CHAT_MAX_TOKENS = 1000
    first, start, other, second = await one_answer_streams_and_another_tab(
        alice, conversation, connect, openai_upstream
    )

    await second.send(type="send", content="meanwhile")
    error = (await second.receive_until("error"))[-1]

    assert error["code"] == "quota" and error["limit"] == 1000
    assert 0 < error["retry_after_s"] <= 86400 and "midnight" in error["message"]
    assert not await Message.objects.filter(conversation=other).aexists()
    assert len(openai_upstream.requests) == 1
    await first.send(type="stop", message_id=start["message_id"])
    await first.receive_until("reply.done")


async def test_a_profile_quota_overrides_the_setting(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_DAILY_TOKEN_QUOTA = 0
    await set_profile(alice, daily_token_quota=5)
    socket = await connect(alice, conversation.pk)
    await finish(socket, "first words here")

    await socket.send(type="send", content="second")
    error = (await socket.receive_until("error"))[-1]

    assert error["code"] == "quota" and error["limit"] == 5


async def test_each_answer_tells_the_page_the_persons_tokens_today(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(tokens=["a "] * 7, prompt_tokens=3)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="count me")

    events = await socket.receive_until("reply.done")

    usage = [e for e in events if e["type"] == "usage"]
    assert usage == [{"type": "usage", "used": 10}]
    assert await sync_to_async(limits.usage_today)(alice) == {
        "used": 10,
        "quota": 200_000,
    }


async def test_control_frames_past_the_sockets_bucket_are_rate_limited(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_CONTROL_BURST = 3
    settings.CHAT_CONTROL_PER_MINUTE = 1
    socket = await connect(alice, conversation.pk)
    done = await finish(socket, "hi")

    for _ in range(3):
        await socket.send(type="resync", message_id=done["message_id"])
        await socket.receive_until("reply.done")
    await socket.send(type="resync", message_id=done["message_id"])
    error = await socket.receive()

    assert error["code"] == "rate_limited" and error["request"] == "resync"
    assert error["limit"] == 3 and error["retry_after_s"] > 0
    # The socket stays open; a send is not a control frame.
    assert (await finish(socket, "still here"))["status"] == "complete"


async def test_a_channel_layer_failure_at_connect_closes_cleanly_so_the_page_reconnects(
    alice, conversation, connect, monkeypatch
):
    from channels.layers import get_channel_layer

    async def too_many_connections(group, channel):
        raise ConnectionError("Too many connections")

    # The in-memory layer, or Redis's (where this was MaxConnectionsError).
    monkeypatch.setattr(get_channel_layer(), "group_add", too_many_connections)
    socket = await connect(alice, conversation.pk)

    assert socket.close_code == 1011


def test_the_socket_bucket_refills_at_its_rate(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(limits.time, "monotonic", lambda: now[0])
    bucket = limits.SocketBucket(burst=2, per_minute=60)
    bucket.take()
    bucket.take()
    with pytest.raises(limits.ReplyError):
        bucket.take()

    now[0] += 1.0

    bucket.take()  # one token a second came back
    with pytest.raises(limits.ReplyError):
        bucket.take()


async def test_concurrent_takes_never_exceed_the_limit():
    from chat import ratelimit

    key = ratelimit.bucket_key("test", "concurrent")
    results = await asyncio.gather(
        *(
            sync_to_async(ratelimit.take, thread_sensitive=False)(
                key, limit=5, window_s=60
            )
            for _ in range(40)
        )
    )

    assert sum(refusal is None for _, refusal in results) == 5


def test_the_page_shows_the_persons_tokens_today_against_their_quota(
    client, alice, conversation
):
    question = Message.objects.create(conversation=conversation, role="user")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        parent=question,
        prompt_tokens=300,
        completion_tokens=12_000,
    )
    Profile.objects.create(user=alice, daily_token_quota=50_000)

    client.force_login(alice)
    response = client.get(f"/c/{conversation.pk}/")

    config = response.context["chat_config"]
    assert config["usage"] == {"used": 12_300, "quota": 50_000}
    assert b'id="usage-today"' in response.content


def test_the_usage_line_counts_the_owners_tokens_today_in_all_their_chats(
    alice, bob, conversation
):
    other = Conversation.objects.create(user=alice)
    Message.objects.create(conversation=other, role="user", prompt_tokens=7)
    Message.objects.create(
        conversation=conversation, role="assistant", completion_tokens=30
    )
    # Not counted: yesterday's, and another person's.
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        prompt_tokens=1_000,
        created_at=limits.start_of_today() - timedelta(seconds=1),
    )
    bobs = Conversation.objects.create(user=bob)
    Message.objects.create(conversation=bobs, role="user", prompt_tokens=500)

    assert limits.usage_today_in(conversation.pk) == {"used": 37}
    assert limits.usage_today_in(bobs.pk) == {"used": 500}
    assert limits.usage_today_in(0) == {"used": 0}
    assert limits.usage_today(alice)["used"] == 37
