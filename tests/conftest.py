import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connections

from chat import dbthreads, fanout, offsets, providers
from chat.models import Conversation
from chat.providers.openai import close_clients
from tests.servers import session_cookie
from tests.upstream import FakeUpstream

ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(scope="session")
def upstream():
    with FakeUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_state(settings):
    """Give each test its own channel layer and provider (tests run on new loops)."""
    settings.CHAT_FLUSH_MS = 0
    # A model-written title is one more upstream request after the first answer;
    # the tests of titles turn it on.
    settings.CHAT_MODEL_TITLES = False
    cache_settings = settings.CACHES["default"]
    channel_layers.backends.clear()
    providers.get_provider.cache_clear()
    # Rate limits live in the cache: each test gets its own keys (SQLite reuses
    # user ids, and Redis, shared with server processes, is not flushed).
    settings.CACHES = {
        **settings.CACHES,
        "default": {**cache_settings, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"},
    }
    yield
    channel_layers.backends.clear()
    providers.get_provider.cache_clear()
    # The turn-storing threads keep their connections (PostgreSQL): close them, so
    # the test database can be dropped at the end.
    dbthreads.close_connections()


@pytest.fixture(autouse=True)
async def loop_resources_closed():
    """Close what this test's loop holds before the loop closes: the provider's
    clients and the frame hub's subscription."""
    yield
    await close_clients()
    await fanout.stop_hub()


@pytest.fixture
def openai_upstream(upstream, settings):
    """Point the OpenAI provider at the test upstream, with a clean script queue;
    and leave it clean: a script no request took (a title a stopped answer never
    asked for) would answer the next test's request on this shared upstream."""
    upstream.reset()
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = upstream.base_url
    settings.OPENAI_API_KEY = "test-key"
    settings.CHAT_MODEL = "test-model"
    settings.CHAT_REQUEST_TIMEOUT_S = 2
    settings.CHAT_MAX_RETRIES = 0
    yield upstream
    upstream.reset()


def make_user(username: str):
    return get_user_model().objects.create_user(username, password="pw-" + username)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def conversation(alice):
    return Conversation.objects.create(user=alice)


class Socket:
    """A websocket client on the real ASGI application, logged in as someone."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.close_code = None
        self.early: list[dict] = []  # frames read while waiting for `joined`

    async def joined(self, timeout: float = 10) -> None:
        """Wait until the consumer's connect() has finished (it joins its groups
        after accepting): it answers frames only after that, one at a time."""
        await self.send(type="joined?")
        async with asyncio.timeout(timeout):
            while True:
                output = await self.communicator.receive_output(timeout)
                if output["type"] == "websocket.close":
                    self.close_code = output.get("code")
                    return
                event = json.loads(output["text"])
                if event["type"] == "error" and event.get("request") is None:
                    if event.get("code") == "unknown_type":
                        return
                self.early.append(event)

    async def send(self, **payload):
        await self.communicator.send_to(text_data=json.dumps(payload))

    async def receive(self, timeout: float = 5) -> dict:
        if self.early:
            return self.early.pop(0)
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, kind: str, timeout: float = 10, **match) -> list:
        """Collect events up to and including the first of this type (and fields)."""
        events = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.receive(timeout=timeout)
                events.append(event)
                if event["type"] == kind and all(
                    event.get(k) == v for k, v in match.items()
                ):
                    return events

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)

    async def close(self):
        await self.communicator.disconnect()


@pytest.fixture
async def orm_thread():
    """After the test, close the connection of the ORM's async thread (it keeps it,
    CONN_MAX_AGE), so the test database can be dropped at the end."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def connect(orm_thread):
    """Open sockets as a user on a conversation; all are closed after the test."""
    from chatsite.asgi import application

    sockets = []

    async def open_socket(
        user,
        conversation_id,
        *,
        origin=ORIGIN,
        cookie=None,
        cookies=None,
        accept_language=None,
    ):
        """`cookie`: a session of the caller's, else a new session of `user`;
        `cookies`: more cookies by name (the language's, say)."""
        headers = [origin] if origin else []
        cookie_parts = [f"{k}={v}" for k, v in (cookies or {}).items()]
        if user is not None:
            cookie_parts.append(cookie or await sync_to_async(session_cookie)(user))
        if cookie_parts:
            headers.append((b"cookie", "; ".join(cookie_parts).encode()))
        if accept_language:
            headers.append((b"accept-language", accept_language.encode()))
        communicator = WebsocketCommunicator(
            application, f"/ws/chat/{conversation_id}/", headers=headers
        )
        connected, code = await communicator.connect()
        socket = Socket(communicator)
        sockets.append(socket)
        if not connected:
            socket.close_code = code
            return socket
        await socket.joined()
        return socket

    yield open_socket
    for socket in sockets:
        await socket.close()


def text_of(events: list, message_id: int, part: str = "answer") -> str:
    """Apply deltas and snapshots by offset, as the browser does; fail on a gap.

    A socket that joined mid-reply may hear deltas before its snapshot (it joins
    the group first): those are covered by the snapshot, as the browser's resync
    would, so they start after it.
    """
    ours = [e for e in events if e.get("message_id") == message_id]
    first_snapshot = next(
        (i for i, e in enumerate(ours) if e["type"] == "reply.snapshot"), None
    )
    if first_snapshot is not None and any(
        e["type"] == "reply.delta" and e["offset"] > 0 for e in ours[:first_snapshot]
    ):
        ours = ours[first_snapshot:]
    return offsets.apply_events(ours, message_id, part=part)
