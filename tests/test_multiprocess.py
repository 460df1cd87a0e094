"""Many server processes over PostgreSQL and Redis, end to end.

Two real server processes share the test database, Redis and the test upstream;
clients are real websocket clients with a real session cookie. A reply runs in the
process whose socket asked for it, so "the run lives on A" below is exact.

Every test runs on both Redis channel layers (the core one, and pub/sub), unless
`@on_layers(...)` names the ones it is about; those marked `@on_every_redis` also run
on each layer sharded over two Redis servers, and on the core layer through Sentinel.
"""

import asyncio
import json
import urllib.request
import uuid

import msgpack
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from chat.models import Message
from chatsite.redis_servers import layer_backend, layer_hosts
from tests.hostile_corpus import LONG_RICH_MARKDOWN
from tests.servers import SiteServer, Tab, full_text, two_servers
from tests.services import (  # noqa: F401 (fixtures)
    postgres_url,
    redis_clients,
    redis_shard_url,
    redis_through_sentinel,
    redis_url,
    services_env,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CHECKPOINT_S = 0.3
REAP_AFTER_S = 2.0

CORE = "channels_redis.core.RedisChannelLayer"
PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
ONE_SERVER, TWO_SHARDS, SENTINEL = "one server", "two shards", "sentinel"
# Test id: (channel layer, the Redis it runs on).
VARIANTS = {
    "core layer": (CORE, ONE_SERVER),
    "pubsub layer": (PUBSUB, ONE_SERVER),
    "core layer, two shards": (CORE, TWO_SHARDS),
    "pubsub layer, two shards": (PUBSUB, TWO_SHARDS),
    "core layer, through Sentinel": (CORE, SENTINEL),
}


def on_layers(*backends: str):
    """Run a test on these channel layers only (without it: on every layer)."""
    return pytest.mark.layers(*backends)


# What the sharded and Sentinel variants add to the suite's time is paid only by
# the tests that cross processes through the layer in a way each setup could break.
on_every_redis = pytest.mark.every_redis


def pytest_generate_tests(metafunc):
    if "variant" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("layers")
        backends = marker.args if marker else (CORE, PUBSUB)
        every_redis = metafunc.definition.get_closest_marker("every_redis")
        ids = [
            name
            for name, (backend, setup) in VARIANTS.items()
            if backend in backends and (every_redis or setup == ONE_SERVER)
        ]
        metafunc.parametrize("variant", ids, ids=ids, indirect=True, scope="module")


@pytest.fixture(scope="module")
def variant(request) -> str:
    """The test id of the servers' channel layer and Redis (parametrized above)."""
    return request.param


@pytest.fixture(scope="module")
def layer(variant) -> str:
    """The channel layer class the servers are configured with."""
    return VARIANTS[variant][0]


@pytest.fixture(scope="module")
def redis_env(variant, redis_url, request) -> dict:  # noqa: F811
    """REDIS_URL and REDIS_SENTINELS of the servers."""
    setup = VARIANTS[variant][1]
    if setup == TWO_SHARDS:
        shard = request.getfixturevalue("redis_shard_url")
        return {"REDIS_URL": f"{redis_url},{shard}", "REDIS_SENTINELS": ""}
    if setup == SENTINEL:
        return request.getfixturevalue("redis_through_sentinel")
    return {"REDIS_URL": redis_url, "REDIS_SENTINELS": ""}


@pytest.fixture(scope="module")
def servers(
    layer,
    redis_env,
    django_db_setup,
    postgres_url,  # noqa: F811
    upstream,
    tmp_path_factory,
):
    env = services_env(
        name="multiprocess",
        upstream_url=upstream.base_url,
        postgres_url=postgres_url,
        redis_url=redis_env["REDIS_URL"],
        layer=layer,
        REDIS_SENTINELS=redis_env["REDIS_SENTINELS"],
        CHAT_REQUEST_TIMEOUT_S=10,
        CHAT_FLUSH_MS=20,
        CHAT_HEARTBEAT_S=1,
        CHAT_CHECKPOINT_S=CHECKPOINT_S,
        CHAT_REAP_AFTER_S=REAP_AFTER_S,
        CHAT_REAP_INTERVAL_S=0.5,
    )
    with two_servers(env, tmp_path_factory.mktemp("servers")) as pair:
        yield pair


@pytest.fixture
def cluster(servers, upstream, layer, redis_env, settings):
    """Both servers up (a test may have killed one), the upstream unscripted, and
    this process on their channel layer (a management command sends on it)."""
    for server in servers:
        if not server.alive():
            server.start()
            server.wait_healthy()
    upstream.reset()
    hosts = layer_hosts(
        redis_env["REDIS_URL"].split(","),
        sentinels=[s for s in redis_env["REDIS_SENTINELS"].split(",") if s],
    )
    prefix = servers[0].env["CHANNEL_LAYER_PREFIX"]
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": layer_backend(layer, shards=len(hosts)),
            "CONFIG": {"hosts": hosts, "prefix": prefix},
        }
    }
    return servers


@pytest.fixture
async def tabs():
    """Open tabs; all are closed after the test."""
    opened: list[Tab] = []

    async def open_tab(server: SiteServer, user, conversation_id: int) -> Tab:
        tab = await Tab.open(server.url, user, conversation_id)
        opened.append(tab)
        await tab.joined()
        return tab

    yield open_tab
    for tab in opened:
        await tab.close()
    # The ORM's async calls opened a connection in asgiref's thread; close it, or
    # the test database cannot be dropped at the end.
    await sync_to_async(connections.close_all)()


async def stored(message_id: int) -> Message:
    return await Message.objects.aget(pk=message_id)


@on_every_redis
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


@on_every_redis
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


@on_every_redis
@pytest.mark.parametrize("when", ["mid-answer", "before the run's process"])
async def test_a_process_that_follows_gets_every_frame_of_an_answer_on_another(
    cluster, alice, conversation, tabs, when
):
    # The run's process follows the conversation itself, so it skips the layer
    # while nobody else does: B must make it publish, by joining before (the
    # layer counts B) or while it streams (B's hub announces itself).
    a, b = cluster
    if when == "before the run's process":
        on_b = await tabs(b, alice, conversation.pk)
    on_a = await tabs(a, alice, conversation.pk)
    await on_a.send(type="send", content="!tokens 200 !delay 10")
    message_id = (await on_a.until("reply.start"))["message_id"]
    for _ in range(3):
        await on_a.until("reply.delta")
    if when == "mid-answer":
        on_b = await tabs(b, alice, conversation.pk)

    done = await on_b.until("reply.done", timeout=15, message_id=message_id)
    await on_a.until("reply.done", message_id=message_id)

    deltas = [
        e
        for e in on_b.events
        if e["type"] == "reply.delta" and e["message_id"] == message_id
    ]
    assert len(deltas) > 1  # live through the layer, not only snapshots
    message = await stored(message_id)
    assert done["status"] == message.status == "complete"
    assert on_b.text(message_id) == on_a.text(message_id) == message.content
    assert message.content == full_text(200)


def frames_heard(listener) -> list[dict]:
    """The layer's messages a raw Redis subscriber has received so far."""
    heard = []
    while (message := listener.get_message(timeout=0)) is not None:
        if message["type"] == "message":
            heard.append(msgpack.unpackb(message["data"]))
    return heard


@on_layers(PUBSUB)
@on_every_redis
async def test_frames_stay_off_redis_until_another_process_follows(
    cluster, alice, bob, conversation, tabs, redis_shards
):
    a, b = cluster
    on_a = await tabs(a, alice, conversation.pk)
    await on_a.send(type="send", content="!tokens 300 !delay 10")
    message_id = (await on_a.until("reply.start"))["message_id"]
    await on_a.until("reply.delta")  # the run's hub has counted the followers
    # Subscribed now, this listener is not counted (nor announced): it hears
    # whatever the run's process publishes to the conversation's group.
    group_channel = f"{a.env['CHANNEL_LAYER_PREFIX']}__group__chat.conversation."
    listeners = [shard.pubsub(ignore_subscribe_messages=True) for shard in redis_shards]
    for listener in listeners:
        listener.subscribe(f"{group_channel}{conversation.pk}")
    try:
        # Someone else's socket for the same id is refused and changes nothing.
        stranger = await Tab.open(b.url, bob, conversation.pk)
        with pytest.raises(ConnectionClosed):
            await stranger.receive()
        assert stranger.ws.close_code == 4404
        for _ in range(3):  # each delta after the first was published, if at all
            await on_a.until("reply.delta")
        assert [f for listener in listeners for f in frames_heard(listener)] == []

        on_b = await tabs(b, alice, conversation.pk)
        await on_b.until("reply.delta", message_id=message_id)
        await on_b.until("reply.delta", message_id=message_id)
        heard = [f for listener in listeners for f in frames_heard(listener)]
        assert {f["type"] for f in heard} >= {"hub.follows", "chat.frame"}
        done = await on_b.until("reply.done", timeout=15, message_id=message_id)
    finally:
        for listener in listeners:
            listener.close()
    message = await stored(message_id)
    assert done["status"] == message.status == "complete"
    assert on_b.text(message_id) == message.content == full_text(300)


async def test_a_tab_on_another_process_gets_the_settled_html_live_and_in_snapshots(
    cluster, alice, conversation, tabs, upstream
):
    a, b = cluster
    upstream.script(text=LONG_RICH_MARKDOWN + "\n" + "More. " * 100, delay=0.02)
    on_a = await tabs(a, alice, conversation.pk)
    await on_a.send(type="send", content="csv?")
    first = await on_a.until("reply.blocks")
    message_id = first["message_id"]

    # Opened mid-answer on B: the run on A answers its snapshot through the run's
    # channel, and the blocks settled later reach it through the group.
    on_b = await tabs(b, alice, conversation.pk)
    snapshot = await on_b.first("reply.snapshot", message_id=message_id)
    done = await on_b.until("reply.done", timeout=20, message_id=message_id)
    await on_a.until("reply.done", timeout=20, message_id=message_id)

    def blocks(tab: Tab, after: int = 0) -> list[dict]:
        return [
            e for e in tab.events if e["type"] == "reply.blocks" and e["upto"] > after
        ]

    upto = snapshot["upto"]
    assert upto >= first["upto"] and snapshot["html"].startswith(first["html"])
    assert blocks(on_b, upto) == blocks(on_a, upto) != []
    preview = "".join(e["html"] for e in blocks(on_a))
    assert snapshot["html"] + "".join(e["html"] for e in blocks(on_b, upto)) == preview
    assert "<h2>" in preview and "<table>" in preview
    assert preview.count('<div class="codehilite"') == 2
    message = await stored(message_id)
    assert done["html"] == message.html and message.content == on_b.text(message_id)


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
    # Another tab sees the reply end, whether the retry comes before or after.
    watcher = await tabs(a, alice, conversation.pk)
    first = await tabs(a, alice, conversation.pk)
    await first.send(type="send", content=content, client_id="retry-me")
    await first.until("message")
    await first.close()  # the network dropped before the client saw an answer

    again = await tabs(b, alice, conversation.pk)
    await again.send(type="send", content=content, client_id="retry-me")
    echo = await again.until("message", client_id="retry-me")
    done = await watcher.until("reply.done")

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


@on_every_redis
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


SMALL_CAPACITY = 4


@pytest.fixture
def small_capacity_server(servers, tmp_path):
    """A third server process whose layer keeps at most SMALL_CAPACITY unread
    messages for a process and drops what comes beyond."""
    env = {**servers[0].env, "CHANNEL_LAYER_CAPACITY": str(SMALL_CAPACITY)}
    server = SiteServer("small", env, tmp_path)
    server.start()
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@on_layers(CORE)
async def test_deltas_the_core_layer_drops_for_a_stalled_process_are_resynced(
    cluster, small_capacity_server, alice, conversation, tabs
):
    _, b = cluster
    on_run = await tabs(small_capacity_server, alice, conversation.pk)
    behind = await tabs(b, alice, conversation.pk)
    await on_run.send(type="send", content="!tokens 300 !delay 10")
    message_id = (await on_run.until("reply.start"))["message_id"]
    await behind.until("reply.delta", message_id=message_id)

    # b reads nothing while stopped: the run's layer queues SMALL_CAPACITY
    # frames for it and drops the rest of the deltas, which go on meanwhile.
    with b.stopped():
        for _ in range(3 * SMALL_CAPACITY):
            await on_run.until("reply.delta", message_id=message_id)
    done = await behind.until("reply.done", timeout=30, message_id=message_id)

    message = await stored(message_id)
    assert done["status"] == message.status == "complete"
    # The client saw a delta past its text, asked for a resync, and the run's
    # snapshot filled the hole.
    assert behind.resyncs >= 1
    assert any(e["type"] == "reply.snapshot" for e in behind.events)
    assert behind.text(message_id) == message.content == full_text(300)


@pytest.fixture
def redis_shards(cluster):
    """A client for each Redis shard of the servers (blocking, and quick)."""
    clients = redis_clients(cluster[0].env)
    yield clients
    for client in clients:
        client.close()


def subscribers(shards, channel: str) -> int:
    """How many Redis connections subscribe to this pub/sub channel, on any shard."""
    return sum(count for shard in shards for _, count in shard.pubsub_numsub(channel))


def subscribed(shards, pattern: str) -> set[bytes]:
    """The pub/sub channels matching `pattern` someone subscribes to, on any shard."""
    return {channel for shard in shards for channel in shard.pubsub_channels(pattern)}


@on_layers(PUBSUB)
@on_every_redis
async def test_a_finished_reply_leaves_no_redis_subscription_for_its_run(
    cluster, alice, conversation, tabs, redis_shards
):
    a, _ = cluster
    tab = await tabs(a, alice, conversation.pk)
    await tab.send(type="send", content="!tokens 40 !delay 10")
    message_id = (await tab.until("reply.start"))["message_id"]
    await tab.until("reply.delta", message_id=message_id)
    run_channel = (await stored(message_id)).run_channel
    # While it runs, the run listens on its channel (stop, snapshot requests).
    assert subscribers(redis_shards, run_channel) == 1

    await tab.until("reply.done", message_id=message_id)

    # The run forgets its channel after `done` goes out, and nothing tells
    # anyone when: there is no event to await, so poll Redis, bounded.
    try:
        async with asyncio.timeout(5):
            while subscribers(redis_shards, run_channel):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"{run_channel} is still subscribed after the reply ended")


@on_layers(PUBSUB)
async def test_refused_sends_leave_no_redis_subscription(
    cluster, alice, conversation, tabs, redis_shards
):
    a, _ = cluster
    pattern = a.env["CHANNEL_LAYER_PREFIX"] + "*"
    tab = await tabs(a, alice, conversation.pk)
    await tab.send(type="send", content="!tokens 200 !delay 10")
    message_id = (await tab.until("reply.start"))["message_id"]
    before = subscribed(redis_shards, pattern)
    for attempt in range(3):
        await tab.send(type="send", content="again", client_id=f"busy-{attempt}")
        error = await tab.until("error", client_id=f"busy-{attempt}")
        assert error["code"] == "busy"
    after = subscribed(redis_shards, pattern)
    await tab.send(type="stop", message_id=message_id)
    await tab.until("reply.done", message_id=message_id)

    assert after <= before


@on_every_redis
def test_health_answers_through_a_real_server(cluster):
    a, _ = cluster
    with urllib.request.urlopen(f"{a.url}/healthz", timeout=5) as response:
        body = json.load(response)
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok"},
    }


def test_the_servers_start_without_a_deprecation_warning(cluster):
    for server in cluster:
        assert "DeprecationWarning" not in server.log.read_text(), server.log_tail()


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
