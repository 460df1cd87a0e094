"""Server-Sent Events through real server processes over PostgreSQL and Redis.

Raw HTTP clients (tests/sse_client.py) read the event streams as an EventSource
does; a client whose server restarts reconnects to the other process with
Last-Event-ID and ends with exactly the stored text.
"""

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from chat.models import Message
from tests.servers import full_text, session_cookie, two_servers
from tests.services import (  # noqa: F401 (fixtures)
    postgres_url,
    redis_url,
    services_env,
)
from tests.sse_client import Follower, HttpStream, done_of, follow

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

LAYERS = {
    "channels_redis.core.RedisChannelLayer": "core layer",
    "channels_redis.pubsub.RedisPubSubChannelLayer": "pubsub layer",
}


@pytest.fixture(scope="module", params=list(LAYERS), ids=list(LAYERS.values()))
def servers(
    request,
    django_db_setup,
    postgres_url,  # noqa: F811
    redis_url,  # noqa: F811
    upstream,
    tmp_path_factory,
):
    env = services_env(
        name="sse",
        upstream_url=upstream.base_url,
        postgres_url=postgres_url,
        redis_url=redis_url,
        layer=request.param,
        CHAT_REQUEST_TIMEOUT_S=10,
        CHAT_FLUSH_MS=20,
        CHAT_MESSAGES_PER_MINUTE=0,
    )
    with two_servers(env, tmp_path_factory.mktemp("sse-servers")) as pair:
        yield pair


@pytest.fixture
async def cookie(servers, upstream, alice):
    for server in servers:
        if not server.alive():
            server.start()
            server.wait_healthy()
    upstream.reset()
    yield await sync_to_async(session_cookie)(alice)
    await sync_to_async(connections.close_all)()


async def post_message(server, cookie, conversation, body) -> HttpStream:
    return await HttpStream.open(
        server.url,
        f"/api/conversations/{conversation.pk}/messages/",
        method="POST",
        cookie=cookie,
        body=body,
    )


async def test_a_message_posted_with_stream_answers_as_an_event_stream(
    servers, cookie, conversation
):
    a, _ = servers
    stream = await post_message(
        a, cookie, conversation, {"content": "!tokens 30", "stream": True}
    )
    follower = Follower()
    try:
        done = await follow(stream, follower, lambda f: f["type"] == "reply.done")
        ended = await stream.next_event()
    finally:
        await stream.close()

    assert stream.status == 200
    assert stream.headers["x-accel-buffering"] == "no"
    assert follower.texts[done["message_id"]] == full_text(30)
    assert (await Message.objects.aget(pk=done["message_id"])).content == full_text(30)
    assert ended is None


async def test_an_event_source_resumes_on_the_other_process_after_its_server_restarts(
    servers, cookie, conversation
):
    a, b = servers
    # The run lives on A (the POST's process); the follower reads B.
    post = await post_message(
        a, cookie, conversation, {"content": "!tokens 150 !delay 25", "stream": False}
    )
    answer = (await post.json())["reply_id"]
    await post.close()
    follower = Follower()
    on_b = await HttpStream.open(
        b.url, f"/api/conversations/{conversation.pk}/events", cookie=cookie
    )
    await follow(
        on_b, follower, lambda f: f["type"] == "reply.delta" and f["offset"] > 40
    )

    b.kill()  # a crash: the stream ends wherever it was
    while (event := await on_b.next_event()) is not None:
        follower.take(event)
    await on_b.close()
    b.start()
    left_at = len(follower.texts[answer])
    deltas_before = len(follower.of_type("reply.delta"))

    on_a = await HttpStream.open(
        a.url,
        f"/api/conversations/{conversation.pk}/events",
        cookie=cookie,
        headers={"Last-Event-ID": follower.last_event_id},
    )
    try:
        await follow(on_a, follower, done_of(answer), timeout=30)
    finally:
        await on_a.close()
    b.wait_healthy()

    stored = await Message.objects.aget(pk=answer)
    # Follower checks every delta starts where the text ends: no duplicate, no gap.
    assert follower.of_type("reply.delta")[deltas_before]["offset"] == left_at
    assert follower.texts[answer] == stored.content == full_text(150)
    assert stored.status == Message.Status.COMPLETE
