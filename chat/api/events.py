"""A conversation's frames as Server-Sent Events: one more member of its group.

An event stream follows the conversation through its process's hub
(`chat/fanout.py`), exactly as a websocket does, and writes each frame as an event
named by the frame's type,
the data being the frame's JSON as the run encoded it. Deltas (and snapshots) carry
`id: <message id>:<offset after it>`, so an `EventSource` that reconnects with
`Last-Event-ID` to any process gets only the text it misses:

- on connect it joins first, then asks each running answer (and the answer the
  Last-Event-ID names, if it ended meanwhile) for a snapshot on its channel; the
  frames of an answer whose snapshot is on its way wait for it;
- the snapshot of the named answer goes out as one `reply.delta` of the text after
  the client's offset; other snapshots go out as they are;
- every delta then passes the offset rule (`chat/offsets.py`): text the client has
  is dropped, so nothing is sent twice.

A reply belongs to no stream: closing one changes nothing for the answer.
"""

import asyncio
import contextlib
import json
import logging

from channels.layers import get_channel_layer
from django.conf import settings

from chat import accounts, fanout, replies
from chat.fanout import Following
from chat.layers import forget_channel
from chat.models import Message
from chat.replies import wire
from chat.selectors import streaming_replies

logger = logging.getLogger(__name__)

# The browser's reconnect delay after a dropped stream, in milliseconds.
RETRY_MS = 1000
LEFT = "stream.left"  # what a stream sends itself to end its own receive


def parse_last_event_id(value: str | None) -> tuple[int, int] | None:
    """Read `<message id>:<offset>`; anything else resumes nothing."""
    try:
        message_id, offset = (int(part) for part in (value or "").split(":"))
    except ValueError:
        return None
    if message_id <= 0 or offset < 0:
        return None
    return message_id, offset


def parse_ids(value: str | None, *, at_most: int = 20) -> tuple[int, ...]:
    """Read `12,34` (a page's resync); anything that is not an id is ignored."""
    ids = (part.strip() for part in (value or "").split(",")[:at_most])
    return tuple(int(part) for part in ids if part.isdecimal())


def event(kind: str, data: str, event_id: str | None = None) -> str:
    # The frame's JSON has no raw line breaks (json.dumps escapes them), so it is
    # one `data:` line.
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n"


class EventStream:
    """One client's event stream of a conversation, from joining to leaving."""

    def __init__(
        self,
        *,
        conversation_id: int,
        user_id: int,
        session: str | None,
        resume: tuple[int, int] | None = None,
        until_done_of: int | None = None,
    ):
        self.conversation_id = conversation_id
        self.session = session
        # Logging out, a new password or deactivation ends the stream.
        self.user_group = accounts.user_group_name(user_id)
        self.resume = resume
        self.until_done_of = until_done_of  # end after this answer's reply.done
        self.covered: dict[int, int] = {}  # per answer: the offset the client has
        self.awaiting: dict[int, list[dict]] = {}  # frames held for a snapshot
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.joined = False
        self.following: Following | None = None
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.receiver: asyncio.Task | None = None
        self.ended = False

    async def join(self) -> None:
        """Follow the conversation and join the person's group before anything is
        asked, so no frame falls in between. Raises if the layer fails; nothing is
        left joined then."""
        self.channel = await self.layer.new_channel()
        self.receiver = asyncio.create_task(self._receive())
        try:
            self.following = await fanout.hub().follow(
                self.conversation_id, self._take_frame
            )
            self.joined = True
            await self.layer.group_add(self.user_group, self.channel)
        except BaseException:
            await self.leave()
            raise

    async def _take_frame(self, frame: str) -> None:
        self.inbox.put_nowait(wire.encoded_event(frame))

    async def _receive(self) -> None:
        # The person's group only (sign-outs). One receive at a time, never
        # cancelled: cancelling a layer receive may drop a message, and Redis's
        # core layer let a cancelled receive that was reading for the whole
        # process hang on for seconds. Waits with a deadline wait on the queue;
        # the end is a message to itself (LEFT).
        while True:
            message = await self.layer.receive(self.channel)
            if message.get("type") == LEFT:
                return
            self.inbox.put_nowait(message)

    async def leave(self) -> None:
        if self.receiver is not None:
            receiver, self.receiver = self.receiver, None
            try:
                await self.layer.send(self.channel, {"type": LEFT})
                await receiver
            except Exception:
                receiver.cancel()  # the layer failed: no message will come
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await receiver
            await forget_channel(self.layer, self.channel)  # pub/sub unsubscribes
        if self.following is not None:
            following, self.following = self.following, None
            with contextlib.suppress(Exception):
                await fanout.hub().unfollow(following)
        if self.joined:
            self.joined = False
            with contextlib.suppress(Exception):
                await self.layer.group_discard(self.user_group, self.channel)

    async def ask_snapshots(
        self, *, only: Message | None = None, named: tuple[int, ...] = ()
    ) -> None:
        """Ask the running answers (or `only` this one) for what they have sent;
        also the answers `named` (a page's resync) and the one Last-Event-ID
        names, which may have ended while the client was away (snapshot + done)."""
        if only is not None:
            answers = [only]
        else:
            answers = [
                m async for m in streaming_replies(conversation_id=self.conversation_id)
            ]
        wanted = set(named) | ({self.resume[0]} if self.resume else set())
        wanted -= {m.pk for m in answers}
        if wanted:
            answers += [
                m
                async for m in Message.objects.filter(
                    conversation_id=self.conversation_id,
                    pk__in=wanted,
                    role=Message.Role.ASSISTANT,
                )
            ]
        for answer in answers:
            self.awaiting[answer.pk] = []
            await replies.send_snapshot_of(answer, reply_to=self.following.address)

    async def events(self):
        """The stream's text, until the client leaves, the answer it follows ends,
        the person signs out or the stream's age runs out (the browser reconnects)."""
        heartbeat_s = settings.CHAT_SSE_HEARTBEAT_S
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + settings.CHAT_SOCKET_MAX_AGE_S
        try:
            yield f"retry: {RETRY_MS}\n\n"
            while not self.ended:
                try:
                    async with asyncio.timeout(min(heartbeat_s, ends_at - loop.time())):
                        message = await self.inbox.get()
                except TimeoutError:
                    if loop.time() >= ends_at:
                        return
                    yield ": ping\n\n"  # keeps proxies from closing an idle stream
                    continue
                async for text in self.handle(message):
                    yield text
        finally:
            # Also on a disconnect (CancelledError) and on aclose() (GeneratorExit).
            await self.leave()

    async def handle(self, message: dict):
        kind = message.get("type")
        if kind == "user.signed_out":
            if message.get("session") in (None, self.session):
                self.ended = True
            return
        if kind != wire.FRAME_EVENT:
            return
        encoded = message["frame"]
        frame = json.loads(encoded)
        kind, answer = frame["type"], frame.get("message_id")
        if answer in self.awaiting:
            if kind == "reply.done":
                # It ended before it answered the snapshot request, so no answer
                # will come: ask again, now from the database (snapshot + done).
                await replies.send_snapshot(
                    conversation_id=self.conversation_id,
                    message_id=answer,
                    reply_to=self.following.address,
                )
                return
            if kind != "reply.snapshot":
                self.awaiting[answer].append(frame)
                return
        if kind == "reply.snapshot":
            for text in self._snapshot(frame, encoded):
                yield text
            for held in self.awaiting.pop(answer, ()):
                for text in self._forward(held):
                    yield text
            return
        for text in self._forward(frame, encoded):
            yield text

    def _snapshot(self, frame: dict, encoded: str):
        answer, text = frame["message_id"], frame["text"]
        if self.resume is not None and self.resume[0] == answer:
            offset = self.resume[1]
            self.resume = None
            if offset <= len(text):
                self.covered[answer] = offset
                missing = {
                    "type": "reply.delta",
                    "message_id": answer,
                    "offset": offset,
                    "text": text[offset:],
                }
                yield from self._forward(missing)
                return
        self.covered[answer] = max(self.covered.get(answer, 0), len(text))
        yield event(frame["type"], encoded, f"{answer}:{len(text)}")

    def _forward(self, frame: dict, encoded: str | None = None):
        kind = frame["type"]
        answer = frame.get("message_id")
        if kind == "reply.delta":
            have = self.covered.get(answer, 0)
            offset, text = frame["offset"], frame["text"]
            end = offset + len(text)
            if end <= have:
                return  # the client has all of it
            if offset < have:
                # The offset rule: skip what the client has, send the rest.
                frame = {**frame, "offset": have, "text": text[have - offset :]}
                encoded = None
            self.covered[answer] = max(have, end)
            yield event(kind, encoded or wire.frame(frame), f"{answer}:{end}")
            return
        yield event(kind, encoded or wire.frame(frame))
        if kind == "reply.done" and answer == self.until_done_of:
            self.ended = True
