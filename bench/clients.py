"""Readers of stamped token streams: the site's websocket, the SDK, raw SSE.

Each token's text is the upstream's ``time.monotonic_ns()`` at send time plus a
space, so a reader turns text into per-token latencies however the text was cut
into frames (the site coalesces tokens; counting frames would undercount).
"""

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field

import websockets


class StampReader:
    """Split stamped text into tokens; latency = receive time - stamp."""

    __slots__ = ("first_ns", "last_ns", "latencies", "tail", "tokens")

    def __init__(self):
        self.tail = ""
        self.latencies: list[int] = []
        self.tokens = 0
        self.first_ns = 0
        self.last_ns = 0

    def feed(self, text: str, now_ns: int) -> None:
        parts = (self.tail + text).split(" ")
        self.tail = parts.pop()
        for part in parts:
            if part:
                self.latencies.append(now_ns - int(part))
                self.tokens += 1
        if parts:
            if not self.first_ns:
                self.first_ns = now_ns
            self.last_ns = now_ns


@dataclass
class Reply:
    start_ns: int = 0  # send (site) or request (direct)
    stamps: StampReader = field(default_factory=StampReader)
    parts: list[str] = field(default_factory=list)
    length: int = 0  # code points received, in order: the next expected offset
    first_text_ns: int = 0  # when the first and the latest new text arrived
    last_text_ns: int = 0
    message_id: int | None = None
    status: str = ""
    frames: int = 0
    blocks: int = 0  # reply.blocks frames (live formatting)
    gaps: int = 0
    error: str = ""

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def take(self, event: dict, now: int, stamped: bool = True) -> bool:
        """Apply one site frame by offset, as the page does; True once it ended."""
        kind = event.get("type")
        if kind == "reply.delta":
            if self.message_id is None:
                self.message_id = event["message_id"]
            self.frames += 1
            offset = event["offset"]
            have = self.length
            if offset > have:
                self.gaps += 1  # a lost delta: the text has a hole
                return False
            new = event["text"][have - offset :]
            if new:
                self.parts.append(new)
                self.length += len(new)
                self.first_text_ns = self.first_text_ns or now
                self.last_text_ns = now
                if stamped:
                    self.stamps.feed(new, now)
        elif kind == "reply.blocks":
            self.blocks += 1
        elif kind == "reply.start":
            self.message_id = event["message_id"]
        elif kind == "reply.done":
            self.status = event["status"]
            self.error = event.get("error") or ""
            return True
        elif kind == "error":
            self.status = "error"
            self.error = f"{event.get('code')}: {event.get('message')}"
            return True
        return False

    @property
    def ttft_ms(self) -> float | None:
        if not self.stamps.first_ns:
            return None
        return (self.stamps.first_ns - self.start_ns) / 1e6

    @property
    def duration_s(self) -> float:
        return (self.stamps.last_ns - self.start_ns) / 1e9 if self.stamps.last_ns else 0


class SiteSocket:
    """A logged-in browser tab on one conversation, reading deltas by offset."""

    def __init__(self, origin: str, conversation_id: int, cookie: str):
        self.url = origin.replace("http://", "ws://") + f"/ws/chat/{conversation_id}/"
        self.origin = origin
        self.cookie = cookie
        self.ws = None

    async def open(self, within_s: float = 20) -> None:
        self.ws = await websockets.connect(
            self.url,
            additional_headers={"Cookie": self.cookie, "Origin": self.origin},
            proxy=None,
            open_timeout=within_s,
            max_size=None,
            ping_interval=None,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def reply(self, content: str, within_s: float, stamped: bool = True) -> Reply:
        """Send a message and read its answer until reply.done (or within_s).

        `stamped=False`: the answer carries no stamps (`bench N R md`).
        """
        reply = Reply()
        ws = self.ws
        monotonic_ns = time.monotonic_ns
        loads = json.loads
        reply.start_ns = monotonic_ns()
        await ws.send(
            json.dumps(
                {"type": "send", "content": content, "client_id": uuid.uuid4().hex}
            )
        )
        try:
            async with asyncio.timeout(within_s):
                while True:
                    raw = await ws.recv()
                    now = monotonic_ns()
                    if reply.take(loads(raw), now, stamped):
                        return reply
        except TimeoutError:
            reply.status = "timeout"
        except websockets.ConnectionClosed as exc:
            reply.status = "closed"
            reply.error = str(exc)
        return reply


CSRF_SECRET = "b" * 32  # any 32 characters: the cookie and the header must agree


async def events_reply(
    origin: str, conversation_id: int, cookie: str, content: str, within_s: float
) -> Reply:
    """The same send over HTTP: POST messages/ with "stream": true on a new
    connection, reading the Server-Sent Events by offset until reply.done."""
    reply = Reply()
    host, _, port = origin.split("//")[1].partition(":")
    body = json.dumps(
        {"content": content, "client_id": uuid.uuid4().hex, "stream": True}
    ).encode()
    head = (
        f"POST /api/conversations/{conversation_id}/messages/ HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nCookie: {cookie}; csrftoken={CSRF_SECRET}\r\n"
        f"X-CSRFToken: {CSRF_SECRET}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    monotonic_ns = time.monotonic_ns
    reply.start_ns = monotonic_ns()
    async with raw_request(host, port, head.encode() + body, reply, within_s) as reader:
        # Chunked transfer: the site writes each event as one chunk, so a
        # `data:` line is never cut by a chunk-size line.
        while line := await reader.readline():
            if line.startswith(b"data: "):
                now = monotonic_ns()
                if reply.take(json.loads(line[6:]), now):
                    break
    return reply


async def direct_reply(client, content: str, within_s: float) -> Reply:
    """The same upstream read directly with the openai SDK, as the site does."""
    reply = Reply()
    monotonic_ns = time.monotonic_ns
    reply.start_ns = monotonic_ns()
    try:
        async with asyncio.timeout(within_s):
            stream = await client.chat.completions.create(
                model="bench",
                messages=[{"role": "user", "content": content}],
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                async for chunk in stream:
                    for choice in chunk.choices:
                        text = choice.delta.content if choice.delta else None
                        if text:
                            reply.frames += 1
                            reply.stamps.feed(text, monotonic_ns())
                        if choice.finish_reason:
                            reply.status = "complete"
    except TimeoutError:
        reply.status = "timeout"
    return reply


async def raw_reply(base_url: str, content: str, within_s: float) -> Reply:
    """A minimal SSE reader (no SDK): checks that the rig itself keeps up."""
    reply = Reply()
    host, _, port = base_url.split("//")[1].split("/")[0].partition(":")
    body = json.dumps(
        {
            "model": "bench",
            "stream": True,
            "messages": [{"role": "user", "content": content}],
        }
    ).encode()
    reply.start_ns = time.monotonic_ns()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (host.encode(), len(body), body)
    )
    async with raw_request(host, port, request, reply, within_s) as reader:
        marker = b'"content":"'
        while True:
            line = await reader.readline()
            if not line:
                break
            if line.startswith(b"data: [DONE]"):
                reply.status = "complete"
                break
            at = line.find(marker)
            if line.startswith(b"data: {") and at >= 0:
                start = at + len(marker)
                text = line[start : line.index(b'"', start)].decode()
                if text:
                    reply.frames += 1
                    reply.stamps.feed(text, time.monotonic_ns())
    return reply


async def relay_reply(relay_url: str, content: str, within_s: float) -> Reply:
    """Read one answer through the bare relay (bench/relay.py): a frame per token."""
    reply = Reply()
    reply.start_ns = time.monotonic_ns()
    try:
        async with asyncio.timeout(within_s):
            async with websockets.connect(
                relay_url + "?" + content.replace(" ", "+"),
                proxy=None,
                max_size=None,
                ping_interval=None,
            ) as ws:
                async for text in ws:
                    reply.frames += 1
                    reply.stamps.feed(text, time.monotonic_ns())
        reply.status = "complete"
    except TimeoutError:
        reply.status = "timeout"
    return reply


@contextlib.asynccontextmanager
async def raw_request(host: str, port, request: bytes, reply: Reply, within_s: float):
    """Send a raw HTTP request and hand over the reader; a timeout marks the reply."""
    writer = None
    try:
        async with asyncio.timeout(within_s):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(request)
            yield reader
    except TimeoutError:
        reply.status = "timeout"
    finally:
        if writer is not None:
            writer.close()


class LoopLag:
    """How late this process's own event loop wakes up: is the client keeping up?"""

    def __init__(self, every_s: float = 0.005):
        self.every_s = every_s
        self.lags: list[float] = []
        self.task: asyncio.Task | None = None

    async def _run(self):
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.every_s)
            self.lags.append((time.monotonic() - before - self.every_s) * 1000)

    def __enter__(self):
        self.task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc):
        self.task.cancel()

    def p99_ms(self) -> float:
        lags = sorted(self.lags)
        return lags[int(0.99 * (len(lags) - 1))] if lags else 0.0
