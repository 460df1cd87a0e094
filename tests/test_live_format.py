"""Live formatting: settled blocks rendered on the server while an answer streams."""

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from chat.render_budget import render_answer
from chat.rendering import render_markdown
from chat.replies import live
from chat.replies.live import LiveBlocks
from chat.replies.settle import Settler
from tests.conftest import text_of
from tests.hostile_corpus import LONG_RICH_MARKDOWN
from tests.upstream import split_tokens


def blocks_of(events: list, message_id: int) -> list[dict]:
    return [
        e
        for e in events
        if e["type"] == "reply.blocks" and e.get("message_id") == message_id
    ]


def assert_contiguous(blocks: list[dict], start: int = 0) -> None:
    for frame in blocks:
        assert frame["offset"] == start < frame["upto"]
        start = frame["upto"]


class Frames:
    def __init__(self):
        self.sent: list[dict] = []
        self.arrived = asyncio.Event()

    async def send(self, payload: dict) -> None:
        self.sent.append(payload)
        self.arrived.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.sent) < count:
                self.arrived.clear()
                await self.arrived.wait()


def on_a_thread(render):
    """A stand-in for the renderer that blocks, as a worker's render takes time."""

    async def arender(text: str) -> str:
        return await asyncio.to_thread(render, text)

    return arender


async def test_settled_blocks_go_out_as_html_of_the_same_renderer_once_each(
    monkeypatch,
):
    rendered: list[str] = []

    async def counting_render(text: str) -> str:
        rendered.append(text)
        return render_markdown(text)

    monkeypatch.setattr(live, "arender_answer", counting_render)
    frames = Frames()
    blocks = LiveBlocks(7, frames.send)
    settled = Settler()
    settled.feed(LONG_RICH_MARKDOWN)

    for token in split_tokens(LONG_RICH_MARKDOWN):
        blocks.sent(token)
        await asyncio.sleep(0)  # the run loop goes on between deltas
    await frames.until(1)
    while blocks.upto < settled.settled:
        await frames.until(len(frames.sent) + 1)
    await blocks.close()

    assert_contiguous(frames.sent)
    assert frames.sent[-1]["upto"] == settled.settled
    # Each settled character was rendered exactly once, in order.
    assert "".join(rendered) == LONG_RICH_MARKDOWN[: settled.settled]
    for frame, text in zip(frames.sent, rendered, strict=True):
        assert frame == {
            "type": "reply.blocks",
            "message_id": 7,
            "offset": frame["offset"],
            "upto": frame["upto"],
            "html": render_markdown(text),
        }
    assert blocks.snapshot() == {
        "upto": settled.settled,
        "html": "".join(f["html"] for f in frames.sent),
    }


async def test_a_block_past_the_render_budget_goes_out_as_its_text(settings):
    settings.CHAT_RENDER_MAX_CHARS = 10  # the budget the final answer has
    frames = Frames()
    blocks = LiveBlocks(7, frames.send)

    blocks.sent("A paragraph far longer than ten characters.\n\nNext")
    await frames.until(1)
    await blocks.close()

    html = frames.sent[0]["html"]
    assert "<pre>A paragraph far longer than ten characters." in html
    assert "<p>A paragraph" not in html  # not rendered as Markdown


async def test_boundaries_found_during_a_render_join_the_next_render(monkeypatch):
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def slow_render(text: str) -> str:
        nonlocal in_flight, most_in_flight
        with lock:
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
            calls.append(text)
        started.set()
        release.wait(5)
        with lock:
            in_flight -= 1
        return f"<p>{len(calls)}</p>"

    monkeypatch.setattr(live, "arender_answer", on_a_thread(slow_render))
    frames = Frames()
    blocks = LiveBlocks(1, frames.send)

    blocks.sent("One.\n\nTwo")
    assert await asyncio.to_thread(started.wait, 5)  # the first render is running
    blocks.sent(".\n\nThree.\n\nFour.\n\nFive")  # three more boundaries meanwhile
    release.set()
    await frames.until(2)
    await blocks.close()

    assert calls == ["One.\n\n", "Two.\n\nThree.\n\nFour.\n\n"]
    assert most_in_flight == 1
    assert [(f["offset"], f["upto"]) for f in frames.sent] == [(0, 6), (6, 27)]


async def test_closing_cancels_a_render_in_flight_and_sends_nothing_after(
    monkeypatch,
):
    started, release, finished = (threading.Event() for _ in range(3))

    def stuck_render(text: str) -> str:
        started.set()
        release.wait(5)
        finished.set()
        return "<p>late</p>"

    monkeypatch.setattr(live, "arender_answer", on_a_thread(stuck_render))
    frames = Frames()
    blocks = LiveBlocks(1, frames.send)
    blocks.sent("A paragraph.\n\nNext")
    assert await asyncio.to_thread(started.wait, 5)

    async with asyncio.timeout(2):  # the final render need not wait for it
        await blocks.close()
    blocks.sent("\n\nMore.\n\nAnd more")
    release.set()
    assert await asyncio.to_thread(finished.wait, 5)

    assert frames.sent == [] and blocks.snapshot() == {"upto": 0, "html": ""}


async def test_turned_off_it_renders_nothing_and_snapshots_say_so(monkeypatch):
    monkeypatch.setattr(live, "arender_answer", on_a_thread(pytest.fail))
    blocks = LiveBlocks(1, Frames().send, enabled=False)
    blocks.sent(LONG_RICH_MARKDOWN)

    assert blocks.snapshot() == {"upto": 0, "html": ""}


# Through the websocket, end to end.

transactional = pytest.mark.django_db(transaction=True)


@transactional
async def test_a_streaming_answer_sends_its_settled_blocks_before_done(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(text=LONG_RICH_MARKDOWN, delay=0.005)
    # A render worker started before: starting one (a process) could take longer
    # than this whole answer on a loaded machine, and blocks still rendering at
    # the end are dropped for the final HTML, as they should be.
    await sync_to_async(render_answer, thread_sensitive=False)("# warm")
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="csv?")

    events = await socket.receive_until("reply.done")

    done = events[-1]
    blocks = blocks_of(events, done["message_id"])
    assert_contiguous(blocks)
    preview = "".join(b["html"] for b in blocks)
    assert "<h2>Reading a CSV file</h2>" in preview
    assert "<table>" in preview and preview.count('<div class="codehilite"') == 2
    # Each blocks frame covers only text its socket already has.
    for frame in blocks:
        before = events[: events.index(frame)]
        assert len(text_of(before, done["message_id"])) >= frame["upto"]
    message = await Message.objects.aget(pk=done["message_id"])
    assert done["html"] == message.html == render_markdown(LONG_RICH_MARKDOWN)
    assert message.html.replace("\n", "").startswith(preview.replace("\n", ""))


async def start_slow_answer(connect, user, conversation, upstream):
    """A socket whose long answer streams slowly, after its first blocks frame."""
    upstream.script(text=LONG_RICH_MARKDOWN + "\n\nEnd." * 40, delay=0.02)
    socket = await connect(user, conversation.pk)
    await socket.send(type="send", content="csv?")
    return socket, await socket.receive_until("reply.blocks")


@transactional
async def test_a_socket_joining_mid_answer_gets_the_settled_html_in_its_snapshot(
    alice, conversation, connect, openai_upstream
):
    first, seen = await start_slow_answer(connect, alice, conversation, openai_upstream)
    seen += await first.receive_until("reply.blocks")
    message_id = seen[-1]["message_id"]

    second = await connect(alice, conversation.pk)
    snapshot = (await second.receive_until("reply.snapshot"))[-1]
    later = await second.receive_until("reply.done")
    seen += await first.receive_until("reply.done")

    sent = blocks_of(seen, message_id)
    assert snapshot["upto"] >= sent[1]["upto"]
    covered = [b for b in sent if b["upto"] <= snapshot["upto"]]
    assert covered[-1]["upto"] == snapshot["upto"]
    assert snapshot["html"] == "".join(b["html"] for b in covered)
    upto = snapshot["upto"]
    assert snapshot["text"][:upto] == LONG_RICH_MARKDOWN[:upto]
    # Blocks after the snapshot carry on from its offset (one it already holds
    # may still be on its way: the page skips it, as it skips an old delta).
    after = [b for b in blocks_of(later, message_id) if b["upto"] > upto]
    assert after
    assert_contiguous(after, start=upto)


@transactional
async def test_resync_of_a_streaming_answer_includes_the_settled_html(
    alice, conversation, connect, openai_upstream
):
    socket, seen = await start_slow_answer(
        connect, alice, conversation, openai_upstream
    )
    frame = seen[-1]

    await socket.send(type="resync", message_id=frame["message_id"])
    snapshot = (await socket.receive_until("reply.snapshot"))[-1]

    assert snapshot["upto"] >= frame["upto"] and snapshot["html"].startswith(
        frame["html"]
    )
    await socket.send(type="stop", message_id=frame["message_id"])
    await socket.receive_until("reply.done")


@transactional
async def test_with_live_formatting_off_no_blocks_are_sent(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_LIVE_FORMAT = False
    openai_upstream.script(text=LONG_RICH_MARKDOWN, delay=0.002)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="csv?")

    events = await socket.receive_until("reply.done")

    assert [e for e in events if e["type"] == "reply.blocks"] == []
    assert events[-1]["html"] == render_markdown(LONG_RICH_MARKDOWN)
