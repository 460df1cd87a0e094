"""Many server processes over PostgreSQL and Redis, end to end.

Two real server processes share the test database, Redis and the test upstream;
clients are real websocket clients with a real session cookie. A reply runs in the
process whose socket asked for it, so "the run lives on A" below is exact.
"""

import asyncio
import json
import os
import urllib.error
import urllib.request
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from chat.models import Message
from chat.offsets import apply_delta, apply_snapshot
from tests.servers import SiteServer, Tab, full_text, site_env
from tests.services import (  # noqa: F401 (fixtures)
    postgres_url,
    redis_url,
    url_of_the_test_database,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CHECKPOINT_S = 0.3
REAP_AFTER_S = 2.0


@pytest.fixture(scope="module")
def servers(
    django_db_setup,
    postgres_url,  # noqa: F811
    redis_url,  # noqa: F811
    upstream,
    tmp_path_factory,
):
    env = site_env(
        upstream_url=upstream.base_url,
        # The same key as this process: the session's auth hash is signed with it.
        SECRET_KEY=settings.SECRET_KEY,
        DATABASE_URL=url_of_the_test_database(postgres_url),
        REDIS_URL=redis_url,
        CHANNEL_LAYER_BACKEND=os.environ.get(
            "CHANNEL_LAYER_BACKEND", "channels_redis.core.RedisChannelLayer"
        ),
        CHAT_REQUEST_TIMEOUT_S=10,
        CHAT_FLUSH_MS=20,
        CHAT_HEARTBEAT_S=1,
        CHAT_CHECKPOINT_S=CHECKPOINT_S,
        CHAT_REAP_AFTER_S=REAP_AFTER_S,
        CHAT_REAP_INTERVAL_S=0.5,
    )
    log_dir = tmp_path_factory.mktemp("servers")
    pair = [SiteServer("a", env, log_dir), SiteServer("b", env, log_dir)]
    for server in pair:
        server.start()
    try:
        for server in pair:
            server.wait_healthy()
        yield pair
    finally:
        for server in pair:
            server.stop()


@pytest.fixture
def cluster(servers, upstream):
    """Both servers up (a test may have killed one), the upstream unscripted."""
    for server in servers:
        if not server.alive():
            server.start()
            server.wait_healthy()
    upstream.reset()
    return servers


@pytest.fixture
async def tabs():
    """Open tabs; all are closed after the test."""
    opened: list[Tab] = []

    async def open_tab(server: SiteServer, user, conversation_id: int) -> Tab:
        tab = await Tab.open(server.url, user, conversation_id)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        await tab.close()
    # The ORM's async calls opened a connection in asgiref's thread; close it, or
    # the test database cannot be dropped at the end.
    await sync_to_async(connections.close_all)()


async def stored(message_id: int) -> Message:
    return await Message.objects.aget(pk=message_id)


@pytest.mark.parametrize("stopper", ["the tab on the run's process", "the other tab"])
async def test_two_tabs_on_two_processes_follow_a_reply_and_either_stops_it(
    cluster, alice, conversation, tabs, stopper
):
    a, b = cluster
    on_a = await tabs(a, alice, conversation.pk)
    on_b = await tabs(b, alice, conversation.pk)

    await on_a.send(type="send", content="!tokens 400 !delay 10", client_id="x1")
    start = await on_a.until("reply.start")
    message_id = start["message_id"]
    await on_b.until("reply.start", message_id=message_id)
    # Both tabs show the reply live, before it ends.
    for tab in (on_a, on_b):
        await tab.until("reply.delta")
        await tab.until("reply.delta")
    stop_from = on_a if stopper == "the tab on the run's process" else on_b
    await stop_from.send(type="stop", message_id=message_id)

    done_a = await on_a.until("reply.done", message_id=message_id)
    done_b = await on_b.until("reply.done", message_id=message_id)
    message = await stored(message_id)
    assert done_a["status"] == done_b["status"] == message.status == "stopped"
    assert 0 < len(message.content) < len(full_text(400))
    assert on_a.text(message_id) == on_b.text(message_id) == message.content


async def test_a_socket_that_reconnects_to_another_process_gets_the_exact_text(
    cluster, alice, conversation, tabs
):
    a, b = cluster
    first = await tabs(a, alice, conversation.pk)
    await first.send(type="send", content="!tokens 150 !delay 10")
    message_id = (await first.until("reply.start"))["message_id"]
    for _ in range(3):
        await first.until("reply.delta")
    await first.close()

    again = await tabs(b, alice, conversation.pk)
    done = await again.until("reply.done", timeout=15, message_id=message_id)

    kinds = [e["type"] for e in again.events if e.get("message_id") == message_id]
    assert "reply.snapshot" in kinds and kinds.count("reply.delta") > 1
    message = await stored(message_id)
    assert done["status"] == message.status == "complete"
    assert again.text(message_id) == message.content == full_text(150)


async def test_a_client_that_misses_a_delta_resyncs_and_recovers(
    cluster, alice, conversation, tabs
):
    _, b = cluster
    tab = await tabs(b, alice, conversation.pk)
    await tab.send(type="send", content="!tokens 60 !delay 10")
    message_id = (await tab.until("reply.start"))["message_id"]
    await tab.until("reply.delta")
    tab.deltas_to_lose = 1  # lost on the way, as an at-most-once layer may

    done = await tab.until("reply.done", message_id=message_id)

    message = await stored(done["message_id"])
    assert tab.resyncs >= 1
    assert tab.text(message_id) == message.content == full_text(60)


async def test_sending_while_a_reply_streams_on_another_process_is_busy(
    cluster, alice, conversation, tabs
):
    a, b = cluster
    on_a = await tabs(a, alice, conversation.pk)
    on_b = await tabs(b, alice, conversation.pk)
    await on_a.send(type="send", content="!tokens 300 !delay 10")
    message_id = (await on_a.until("reply.start"))["message_id"]

    await on_b.send(type="send", content="me too", client_id="second")
    error = await on_b.until("error")

    assert error["code"] == "busy" and error["message"]
    await on_b.send(type="stop", message_id=message_id)
    await on_a.until("reply.done", message_id=message_id)
    assert not await Message.objects.filter(client_id="second").aexists()


async def test_a_send_retried_after_a_reconnect_stores_one_message_and_one_reply(
    cluster, alice, conversation, tabs, upstream
):
    a, b = cluster
    content = f"!tokens 40 !delay 10\n{uuid.uuid4()}"
    first = await tabs(a, alice, conversation.pk)
    await first.send(type="send", content=content, client_id="retry-me")
    await first.until("message")
    await first.close()  # the network dropped before the client saw an answer

    again = await tabs(b, alice, conversation.pk)
    await again.send(type="send", content=content, client_id="retry-me")
    echo = await again.until("message", client_id="retry-me")
    done = await again.until("reply.done")

    assert echo["message"]["content"] == content
    assert done["status"] == "complete"
    assert await Message.objects.filter(role="user").acount() == 1
    assert await Message.objects.filter(role="assistant").acount() == 1
    asked = [r for r in upstream.requests if r["messages"][-1]["content"] == content]
    assert len(asked) == 1


async def test_the_same_send_on_two_processes_at_once_runs_one_reply(
    cluster, alice, conversation, tabs, upstream
):
    a, b = cluster
    content = f"!tokens 20 !delay 10\n{uuid.uuid4()}"
    on_a = await tabs(a, alice, conversation.pk)
    on_b = await tabs(b, alice, conversation.pk)

    await asyncio.gather(
        on_a.send(type="send", content=content, client_id="twice"),
        on_b.send(type="send", content=content, client_id="twice"),
    )
    done = await on_a.until("reply.done")
    await on_b.until("reply.done")

    assert done["status"] == "complete"
    assert [e for e in on_a.events + on_b.events if e["type"] == "error"] == []
    assert await Message.objects.filter(role="user").acount() == 1
    assert await Message.objects.filter(role="assistant").acount() == 1
    asked = [r for r in upstream.requests if r["messages"][-1]["content"] == content]
    assert len(asked) == 1


async def test_reap_replies_command_tells_tabs_on_any_process(
    cluster, alice, conversation, tabs
):
    _, b = cluster
    # Fresh enough that the servers' own reapers leave it alone for a while.
    dead = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content="half an ans",
        run_channel="specific.gone!x",
        heartbeat_at=timezone.now(),
    )
    tab = await tabs(b, alice, conversation.pk)

    await sync_to_async(call_command)("reap_replies", stale_after=0, verbosity=0)

    done = await tab.until("reply.done", message_id=dead.pk)
    message = await stored(dead.pk)
    assert done["status"] == message.status == "interrupted"
    assert message.content == "half an ans" and done["error"] == message.error


async def test_a_killed_process_loses_at_most_a_checkpoint_and_its_reply_is_reaped(
    cluster, alice, conversation, tabs
):
    a, b = cluster
    delay_s = 0.01
    on_a = await tabs(a, alice, conversation.pk)
    on_b = await tabs(b, alice, conversation.pk)
    await on_a.send(type="send", content="!tokens 3000 !delay 10")
    message_id = (await on_a.until("reply.start"))["message_id"]
    while len(on_b.text(message_id)) < 400:  # well past the first checkpoint
        await on_b.receive()

    a.kill()
    seen_at_kill = on_b.text(message_id)

    # The surviving process's reaper (every 0.5 s, after REAP_AFTER_S without a
    # checkpoint) is what ends this wait; the timeout is only a bound.
    done = await on_b.until("reply.done", timeout=REAP_AFTER_S + 30)
    message = await stored(message_id)
    assert done["message_id"] == message_id
    assert done["status"] == message.status == "interrupted" and done["error"]
    full = full_text(3000)
    seen = on_b.text(message_id)
    assert full.startswith(seen) and full.startswith(message.content)
    # At most CHECKPOINT_S of text is lost (plus a little scheduling slack).
    lost_tokens = seen.count(" ") - message.content.count(" ")
    assert lost_tokens <= (CHECKPOINT_S + 0.2) / delay_s, (
        seen_at_kill[-40:],
        message.content[-40:],
    )
    assert done["html"] == message.html and message.html.startswith("<p>tok1 ")

    # The person can answer again, now on the surviving process.
    await on_b.send(type="regenerate", message_id=message_id)
    start = await on_b.until("reply.start")
    await on_b.until("reply.delta", message_id=start["message_id"])
    await on_b.send(type="stop", message_id=start["message_id"])
    assert (await on_b.until("reply.done"))["status"] == "stopped"


async def test_a_burst_beyond_the_layers_capacity_is_repaired_by_resync(
    redis_url,  # noqa: F811
    settings,
):
    """The core Redis layer drops what exceeds capacity; offsets reveal the hole."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": redis_url, "socket_timeout": 30}],
                "capacity": 10,
                "prefix": f"burst{uuid.uuid4().hex[:8]}",
            },
        }
    }
    layer = get_channel_layer()
    reader = await layer.new_channel()
    await layer.group_add("chat.conversation.burst", reader)
    chunks = [f"word{i} " for i in range(50)]
    offset = 0
    for chunk in chunks:  # nobody reads meanwhile: a burst
        event = {"type": "reply.delta", "message_id": 1, "offset": offset}
        await layer.group_send("chat.conversation.burst", {**event, "text": chunk})
        offset += len(chunk)

    text, gaps = "", 0
    for _ in range(10):
        event = await asyncio.wait_for(layer.receive(reader), 5)
        text, gap = apply_delta(text, event["offset"], event["text"])
        gaps += gap
    final = "".join(chunks)
    assert gaps or len(text) < len(final), "the layer dropped part of the burst"
    # A resync answers with the run's text so far: the client ends exact.
    assert apply_snapshot(text, final) == final
    await layer.group_discard("chat.conversation.burst", reader)
    await layer.flush()


def test_health_answers_through_a_real_server(cluster):
    a, _ = cluster
    with urllib.request.urlopen(f"{a.url}/healthz", timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["channel_layer"]["ok"]


async def test_a_branch_chosen_on_one_process_is_shown_by_tabs_on_the_other(
    cluster, alice, conversation, tabs, upstream
):
    a, b = cluster
    on_a = await tabs(a, alice, conversation.pk)
    on_b = await tabs(b, alice, conversation.pk)
    await on_a.send(type="send", content="!tokens 3")
    question = (await on_a.until("message"))["message"]["id"]
    first = (await on_a.until("reply.done"))["message_id"]

    # An edit on A: a new branch, which B's tab moves to.
    await on_a.send(
        type="edit", message_id=question, content="!tokens 4", client_id="e"
    )
    path = await on_b.until("conversation.path")
    edited, edited_reply = path["path"]
    await on_b.until("reply.done", message_id=edited_reply)
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "!tokens 4"}
    ]

    # Back to the first branch, from B: A's tab follows, and it is stored.
    await on_b.send(type="switch", message_id=question)
    path = await on_a.until("conversation.path", leaf_id=first)
    assert path["path"] == [question, first] and path["leaf_id"] == first
    assert path["siblings"] == {str(question): [question, edited]}
    await conversation.arefresh_from_db()
    assert conversation.current_leaf_id == first
    # The next message on A continues the branch B chose.
    await on_a.send(type="send", content="!tokens 2")
    await on_a.until("reply.done")
    assert [m["content"] for m in upstream.requests[-1]["messages"]] == [
        "!tokens 3",
        full_text(3),
        "!tokens 2",
    ]
