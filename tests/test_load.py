"""Limits and load across two real server processes over PostgreSQL and Redis.

Two servers of their own with the default heartbeat and reaper settings (those of
tests/test_multiprocess.py reap after 2 s, which a loaded 2-core machine can miss).
The upstream answers at once, so these load the site and not the model. No timing
is asserted: only what is stored and sent.
"""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connections

from chat.models import Conversation, Message, Profile
from chatsite.redis_servers import layer_hosts
from tests.servers import (
    SiteServer,
    Tab,
    full_text,
    session_cookie,
    site_env,
    two_servers,
)
from tests.services import (  # noqa: F401 (fixtures)
    postgres_url,
    redis_through_sentinel,
    redis_url,
    url_of_the_test_database,
)

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# The settings' pool options, for a layer of the test's own.
POOL_OPTIONS = ("socket_timeout", "socket_connect_timeout", "max_connections")


@pytest.fixture(scope="module")
def cluster(
    django_db_setup,
    postgres_url,  # noqa: F811
    redis_url,  # noqa: F811
    upstream,
    tmp_path_factory,
):
    env = site_env(
        upstream_url=upstream.base_url,
        SECRET_KEY=settings.SECRET_KEY,  # the session's auth hash is signed with it
        DATABASE_URL=url_of_the_test_database(postgres_url),
        REDIS_URL=redis_url,
    )
    with two_servers(env, tmp_path_factory.mktemp("load")) as pair:
        yield pair


@pytest.fixture
async def tabs(cluster, upstream):
    upstream.reset()
    opened: list[Tab] = []

    async def open_tab(server: SiteServer, user, conversation_id: int, **kw) -> Tab:
        tab = await Tab.open(server.url, user, conversation_id, **kw)
        opened.append(tab)
        return tab

    yield open_tab
    await asyncio.gather(*(tab.close() for tab in opened))
    await sync_to_async(connections.close_all)()


async def first_of(tab, *kinds: str) -> dict:
    while True:
        event = await tab.receive(timeout=30)
        if event["type"] in kinds:
            return event


async def test_ten_messages_a_minute_hold_across_two_processes(
    cluster, alice, tabs, upstream
):
    await Profile.objects.acreate(
        user=alice, messages_per_minute=10, concurrent_streams=30
    )
    conversations = [await Conversation.objects.acreate(user=alice) for _ in range(30)]
    opened = [
        await tabs(cluster[i % 2], alice, c.pk) for i, c in enumerate(conversations)
    ]

    async def send(tab, i):
        await tab.send(
            type="send", content=f"!tokens 3\nmessage {i}", client_id=f"m{i}"
        )
        return tab, await first_of(tab, "reply.start", "error")

    answers = await asyncio.gather(*(send(tab, i) for i, tab in enumerate(opened)))

    started = [(tab, e) for tab, e in answers if e["type"] == "reply.start"]
    refused = [e for _, e in answers if e["type"] == "error"]
    assert len(started) == 10
    assert len(refused) == 20
    assert {e["code"] for e in refused} == {"rate_limited"}
    assert all(e["limit"] == 10 and 0 < e["retry_after_s"] <= 60 for e in refused)
    for tab, start in started:
        await tab.until("reply.done", timeout=30, message_id=start["message_id"])
    assert await Message.objects.filter(role="user").acount() == 10
    assert await Message.objects.filter(role="assistant").acount() == 10
    assert len(upstream.requests) == 10


PEOPLE = 200
MESSAGES_EACH = 5


@sync_to_async
def make_people(count: int) -> list:
    """Users with no usable password: hashing 200 passwords would cost a minute."""
    run = uuid.uuid4().hex[:6]
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"load-{run}-{i}", password=make_password(None))
        for i in range(count)
    )
    conversations = Conversation.objects.bulk_create(
        Conversation(user=user) for user in users
    )
    return list(zip(users, conversations, strict=True))


async def test_two_hundred_people_sending_five_messages_each_lose_nothing(
    cluster, tabs, upstream
):
    people = await make_people(PEOPLE)
    cookies = await sync_to_async(lambda: [session_cookie(u) for u, _ in people])()
    # All connect at once: a burst of group_adds on each process's Redis pool.
    opened = await asyncio.gather(
        *(
            tabs(cluster[i % 2], user, conversation.pk, cookie=cookie)
            for i, ((user, conversation), cookie) in enumerate(
                zip(people, cookies, strict=True)
            )
        )
    )

    async def converse(tab, person: int) -> list[dict]:
        ends = []
        for n in range(MESSAGES_EACH):
            await tab.send(
                type="send", content=f"!tokens 5\n{person}-{n}", client_id=f"{n}"
            )
            start = await first_of(tab, "reply.start", "error")
            if start["type"] == "error":
                ends.append(start)
                continue
            # By id: a resync (on a gap) may bring an earlier answer's done again.
            end = await tab.until("reply.done", 30, message_id=start["message_id"])
            ends.append(end)
        return ends

    results = await asyncio.gather(*(converse(tab, i) for i, tab in enumerate(opened)))

    ends = [end for person in results for end in person]
    assert [e for e in ends if e["type"] != "reply.done"] == []
    assert {e["status"] for e in ends} == {"complete"}
    total = PEOPLE * MESSAGES_EACH
    assert len({e["message_id"] for e in ends}) == total
    for tab, person in zip(opened, results, strict=True):
        for end in person:
            assert tab.text(end["message_id"]) == full_text(5)
    assert all(tab.ws.close_code is None for tab in opened), "a socket was dropped"
    stored = Message.objects.filter(conversation__in=[c for _, c in people])
    assert await stored.filter(role="user").acount() == total
    assert await stored.filter(role="assistant", status="complete").acount() == total
    assert await stored.filter(role="assistant", content=full_text(5)).acount() == total
    assert len(upstream.requests) == total


@pytest.mark.parametrize(
    "through_sentinel", [False, True], ids=["one server", "through Sentinel"]
)
async def test_a_burst_of_sockets_joining_groups_fits_a_processs_redis_pool(
    redis_url,  # noqa: F811
    through_sentinel,
    request,
):
    """300 joins at once on one process: MaxConnectionsError at redis-py's 100
    (through Sentinel: also in the pool that asks the Sentinels for the master)."""
    burst = 300
    from channels_redis.core import RedisChannelLayer

    config = dict(settings.CHANNEL_LAYERS["default"]["CONFIG"])
    if through_sentinel:
        found = request.getfixturevalue("redis_through_sentinel")
        options = {k: v for k, v in config["hosts"][0].items() if k in POOL_OPTIONS}
        config["hosts"] = layer_hosts(
            [found["REDIS_URL"]],
            sentinels=found["REDIS_SENTINELS"].split(","),
            **options,
        )
    layer = RedisChannelLayer(**{**config, "prefix": f"burst{uuid.uuid4().hex[:8]}"})
    channels = [await layer.new_channel() for _ in range(burst)]

    await asyncio.gather(
        *(layer.group_add(f"g{i}", channel) for i, channel in enumerate(channels))
    )

    await layer.flush()
