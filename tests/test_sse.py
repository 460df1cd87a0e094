"""Conversations over HTTP and Server-Sent Events, against the ASGI application.

(The same against real server processes, across a restart: test_sse_servers.py.)
"""

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from chat import fanout
from chat.models import Conversation, Message
from tests.servers import full_text, session_cookie
from tests.sse_client import AsgiStream, Follower, done_of, follow

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("orm_thread"),
]


@pytest.fixture(autouse=True)
def connections_closed_after_each_request():
    """Django's ASGI handler runs a request's sync parts in a thread of its own;
    with persistent connections (CONN_MAX_AGE) each such thread would leave one
    open, and the test database could not be dropped. Close them per request."""
    database = connections.settings["default"]
    kept = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = kept


@pytest.fixture
async def opened():
    """Open streams as someone; every one is closed after the test."""
    streams = []

    async def open_stream(user, path, **options):
        cookie = await sync_to_async(session_cookie)(user) if user else ""
        stream = await AsgiStream.open(path, cookie=cookie, **options)
        streams.append(stream)
        return stream

    yield open_stream
    for stream in streams:
        await stream.close()


@pytest.fixture
def post(opened):
    """POST a JSON body to a conversation's endpoint as someone."""

    async def post_to(user, conversation_id, what, body, **options):
        path = api(conversation_id, what)
        return await opened(user, path, method="POST", body=body, **options)

    return post_to


@pytest.fixture
def say(post):
    """Send a message to a conversation as someone."""

    async def send(user, conversation_id, content, *, stream):
        body = {"content": content, "stream": stream}
        return await post(user, conversation_id, "messages/", body)

    return send


def api(conversation_id, what):
    return f"/api/conversations/{conversation_id}/{what}"


async def stored(message_id: int) -> Message:
    return await Message.objects.aget(pk=message_id)


async def test_a_streamed_message_answers_with_the_websocket_frames_as_events(
    alice, conversation, openai_upstream, opened, post
):
    openai_upstream.script(text="Here is **bold** text.", delay=0.01)
    stream = await post(
        alice,
        conversation.pk,
        "messages/",
        {"content": "Hi", "client_id": "c1", "stream": True},
    )
    follower = Follower()

    done = await follow(stream, follower, lambda f: f["type"] == "reply.done")

    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-cache"
    assert stream.headers["x-accel-buffering"] == "no"
    kinds = [f["type"] for f in follower.frames]
    assert kinds[:3] == ["message", "conversation", "reply.start"]
    assert follower.frames[0]["client_id"] == "c1"
    reply = await stored(done["message_id"])
    assert follower.texts[reply.pk] == reply.content == "Here is **bold** text."
    assert done["html"] == reply.html and "<strong>bold</strong>" in done["html"]
    # Every delta names its position, the offset after it.
    assert follower.ids[-1] == f"{reply.pk}:{len(reply.content)}"
    assert await stream.next_event() is None  # the stream ends with its answer


async def test_an_unstreamed_message_answers_with_the_stored_ids_at_once(
    alice, conversation, openai_upstream, opened, post
):
    openai_upstream.script(text="Fine.")
    events = await opened(alice, api(conversation.pk, "events"))
    follower = Follower()
    posted = await post(
        alice,
        conversation.pk,
        "messages/",
        {"content": "Hi", "client_id": "c2", "stream": False},
    )
    answer = await posted.json()

    await follow(events, follower, done_of(answer["reply_id"]))

    assert posted.status == 201
    assert answer["message"]["content"] == "Hi" and answer["client_id"] == "c2"
    assert (await stored(answer["reply_id"])).parent_id == answer["message"]["id"]
    assert follower.texts[answer["reply_id"]] == "Fine."
    assert follower.of_type("message")[0]["message"]["id"] == answer["message"]["id"]


async def test_a_retried_send_stores_nothing_new_and_returns_the_same_ids(
    alice, conversation, openai_upstream, opened, post
):
    body = {"content": "Hi", "client_id": "same", "stream": True}
    first = await post(alice, conversation.pk, "messages/", body)
    done = await follow(first, Follower(), lambda f: f["type"] == "reply.done")

    again = await post(alice, conversation.pk, "messages/", body)
    follower = Follower()
    await follow(again, follower, done_of(done["message_id"]))

    assert [f["type"] for f in follower.frames] == [
        "message",
        "reply.snapshot",
        "reply.done",
    ]
    assert (
        follower.texts[done["message_id"]] == (await stored(done["message_id"])).content
    )
    assert await Message.objects.filter(conversation=conversation).acount() == 2


async def test_last_event_id_resumes_with_exactly_the_missing_text(
    alice, conversation, openai_upstream, opened, post, say
):
    openai_upstream.script(tokens=[f"w{i} " for i in range(40)], delay=0.02)
    watcher = await opened(alice, api(conversation.pk, "events"))
    leaver = await opened(alice, api(conversation.pk, "events"))
    await say(alice, conversation.pk, "Go", stream=False)
    gone = Follower()
    delta = await follow(leaver, gone, lambda f: f["type"] == "reply.delta")
    answer = delta["message_id"]
    await leaver.close()
    # The answer goes on while this client is away: the watcher sees it grow.
    left_at = len(gone.texts[answer])
    seen = Follower()
    await follow(
        watcher,
        seen,
        lambda f: f["type"] == "reply.delta" and f["offset"] > left_at + 10,
    )

    back = await opened(
        alice,
        api(conversation.pk, "events"),
        headers={"Last-Event-ID": gone.last_event_id},
    )
    await follow(back, gone, done_of(answer))

    resumed = [f for f in gone.frames if f["type"] == "reply.delta"][1]
    assert resumed["offset"] == left_at  # one delta from where it left
    assert not gone.of_type("reply.snapshot")
    assert (
        gone.texts[answer]
        == (await stored(answer)).content
        == "".join(f"w{i} " for i in range(40))
    )


async def test_last_event_id_of_an_answer_that_ended_meanwhile_gets_its_tail_and_done(
    alice, conversation, openai_upstream, opened, post, say
):
    stream = await say(alice, conversation.pk, "!tokens 12", stream=True)
    done = await follow(stream, Follower(), lambda f: f["type"] == "reply.done")
    answer = done["message_id"]

    back = await opened(
        alice, api(conversation.pk, "events"), headers={"Last-Event-ID": f"{answer}:9"}
    )
    follower = Follower()
    follower.texts[answer] = full_text(12)[:9]
    await follow(back, follower, done_of(answer))

    assert follower.of_type("reply.delta")[0]["offset"] == 9
    assert follower.texts[answer] == full_text(12)


async def test_a_page_that_asks_a_resync_gets_the_snapshot_and_end_of_that_answer(
    alice, conversation, openai_upstream, opened, say
):
    first = await say(alice, conversation.pk, "!tokens 5", stream=True)
    done = await follow(first, Follower(), lambda f: f["type"] == "reply.done")
    answer = done["message_id"]

    again = await opened(alice, api(conversation.pk, f"events?resync={answer},x"))
    follower = Follower()
    await follow(again, follower, done_of(answer))

    assert [f["type"] for f in follower.frames] == ["reply.snapshot", "reply.done"]
    assert follower.texts[answer] == full_text(5)


async def test_an_idle_stream_sends_heartbeat_comments(
    alice, conversation, opened, settings
):
    settings.CHAT_SSE_HEARTBEAT_S = 0.05
    stream = await opened(alice, api(conversation.pk, "events"))

    while len(stream.parser.comments) < 2:
        assert stream.parser.feed(await stream._chunk()) == []

    assert stream.parser.comments[:2] == ["ping", "ping"]
    assert stream.parser.retry_ms == 1000


async def test_a_client_that_leaves_leaves_the_group_and_the_reply_goes_on(
    alice, conversation, openai_upstream, opened, say, settings
):
    openai_upstream.script(tokens=[f"t{i} " for i in range(30)], delay=0.02)
    watcher = await opened(alice, api(conversation.pk, "events"))
    stream = await say(alice, conversation.pk, "Go", stream=True)
    delta = await follow(stream, Follower(), lambda f: f["type"] == "reply.delta")
    followers = fanout.hub().followers[conversation.pk]
    assert len(followers) == 2

    await stream.close()

    assert len(followers) == 1  # only the watcher is left
    await follow(watcher, Follower(), done_of(delta["message_id"]))
    reply = await stored(delta["message_id"])
    assert reply.status == Message.Status.COMPLETE
    assert reply.content == "".join(f"t{i} " for i in range(30))


async def test_stop_ends_the_running_answer_keeping_its_text(
    alice, conversation, openai_upstream, opened, post, say
):
    openai_upstream.script(tokens=["a "] * 10, stall_after=3)
    stream = await say(alice, conversation.pk, "Go", stream=True)
    follower = Follower()
    start = await follow(stream, follower, lambda f: f["type"] == "reply.delta")

    stop = await post(alice, conversation.pk, "stop", {})
    done = await follow(stream, follower, done_of(start["message_id"]))

    assert stop.status == 202
    assert (await stop.json())["message_id"] == start["message_id"]
    assert done["status"] == "stopped"
    assert (await stored(start["message_id"])).content == follower.texts[
        start["message_id"]
    ]


async def test_the_frames_endpoint_runs_the_websockets_requests(
    alice, conversation, openai_upstream, opened, post, say
):
    first = await say(alice, conversation.pk, "Hi", stream=True)
    done = await follow(first, Follower(), lambda f: f["type"] == "reply.done")
    events = await opened(alice, api(conversation.pk, "events"))

    posted = await post(
        alice,
        conversation.pk,
        "frames/",
        {"type": "regenerate", "message_id": done["message_id"]},
    )
    answer = await posted.json()
    follower = Follower()
    await follow(events, follower, done_of(answer["reply_id"]))

    assert posted.status == 202
    assert follower.frames[0]["type"] == "conversation.path"
    regenerated = await stored(answer["reply_id"])
    assert regenerated.parent_id == (await stored(done["message_id"])).parent_id
    assert regenerated.status == Message.Status.COMPLETE


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "dance"}, 400, "unknown_type"),
        ({"type": "resync", "message_id": 1}, 400, "unknown_type"),
        ({"type": "configure", "model": "no-such-model"}, 400, "bad_model"),
        ({"type": "switch", "message_id": "x"}, 400, "bad_request"),
        ({"type": "stop", "message_id": 999999}, 404, "not_found"),
    ],
)
async def test_a_refused_frame_is_a_json_error_with_its_code(
    alice, conversation, openai_upstream, opened, body, status, code, post
):
    posted = await post(alice, conversation.pk, "frames/", body)

    assert posted.status == status
    assert (await posted.json())["error"]["code"] == code


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": "   "}, 400, "empty"),
        ({"content": 5}, 400, "bad_request"),
        ({"content": "hi", "client_id": "x" * 65}, 400, "bad_request"),
        ({"content": "x" * 40000}, 413, "too_long"),
    ],
)
async def test_a_refused_message_is_a_json_error_with_its_code(
    alice, conversation, opened, body, status, code, post
):
    posted = await post(alice, conversation.pk, "messages/", body)

    error = (await posted.json())["error"]
    assert posted.status == status
    assert error["code"] == code and error["message"]
    assert await Message.objects.filter(conversation=conversation).acount() == 0


async def test_a_body_that_is_not_a_json_object_is_refused(
    alice, conversation, opened, post
):
    posted = await post(alice, conversation.pk, "messages/", [1])

    assert posted.status == 400
    assert (await posted.json())["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [("rate", 429, "rate_limited"), ("busy", 409, "busy")],
)
async def test_a_send_refused_by_a_limit_or_a_running_answer_says_so_in_json(
    alice, conversation, openai_upstream, settings, post, refusal, status, code, say
):
    settings.CHAT_MESSAGES_PER_MINUTE = 1 if refusal == "rate" else 0
    running = refusal == "busy"
    openai_upstream.script(tokens=["a "] * 5, stall_after=2 if running else None)
    first = await say(alice, conversation.pk, "a", stream=True)
    wait_for = "reply.delta" if running else "reply.done"
    await follow(first, Follower(), lambda f: f["type"] == wait_for)

    second = await post(alice, conversation.pk, "messages/", {"content": "b"})

    assert second.status == status
    assert (await second.json())["error"]["code"] == code
    if status == 429:
        assert int(second.headers["retry-after"]) > 0
    if running:
        await post(alice, conversation.pk, "stop", {})


ENDPOINTS = [
    ("messages/", "POST", {"content": "hi", "stream": True}),
    ("events", "GET", None),
    ("stop", "POST", {}),
    ("frames/", "POST", {"type": "switch", "message_id": 1}),
]


@pytest.mark.parametrize(("what", "method", "body"), ENDPOINTS)
async def test_someone_elses_conversation_is_not_found_on_every_endpoint(
    alice, bob, conversation, opened, what, method, body
):
    stream = await opened(bob, api(conversation.pk, what), method=method, body=body)

    assert stream.status == 404
    assert (await stream.json())["error"]["code"] == "not_found"
    assert await Message.objects.filter(conversation=conversation).acount() == 0


@pytest.mark.parametrize(("what", "method", "body"), ENDPOINTS)
async def test_no_session_is_401_on_every_endpoint(
    conversation, opened, what, method, body
):
    stream = await opened(None, api(conversation.pk, what), method=method, body=body)

    assert stream.status == 401
    assert (await stream.json())["error"]["code"] == "unauthenticated"


async def test_another_persons_message_id_is_not_found_in_ones_own_conversation(
    alice, bob, conversation, openai_upstream, opened, post, say
):
    theirs = await say(alice, conversation.pk, "a", stream=True)
    done = await follow(theirs, Follower(), lambda f: f["type"] == "reply.done")
    bobs = await Conversation.objects.acreate(user=bob)

    for what, body in [
        ("stop", {"message_id": done["message_id"]}),
        ("frames/", {"type": "regenerate", "message_id": done["message_id"]}),
    ]:
        posted = await post(bob, bobs.pk, what, body)
        assert posted.status == 404, what
        assert (await posted.json())["error"]["code"] == "not_found"
    resume = await opened(
        bob,
        api(bobs.pk, f"events?resync={done['message_id']}"),
        headers={"Last-Event-ID": f"{done['message_id']}:0"},
    )
    assert resume.status == 200
    assert resume.parser.feed(await resume._chunk()) == []  # retry only, no text


@pytest.mark.parametrize("transport", ["auto", "sse"])
def test_the_page_hands_its_script_the_transport_and_the_api_path(
    client, alice, conversation, settings, transport
):
    settings.CHAT_TRANSPORT = transport
    client.force_login(alice)

    page = client.get(f"/c/{conversation.pk}/")

    config = page.context["chat_config"]
    assert config["transport"] == transport
    assert config["apiPath"] == f"/api/conversations/{conversation.pk}/"
