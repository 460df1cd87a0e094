"""Server-Sent Events clients for tests: raw HTTP to a real server, or the ASGI
application in this process; both parse the stream as a browser's EventSource does
and apply the frames by offset (failing on a gap).
"""

import asyncio
import json
from urllib.parse import urlsplit

from chat.offsets import apply_delta, apply_snapshot

CSRF_TOKEN = "t" * 32  # a valid CSRF secret: the cookie and the header carry it


class EventParser:
    """The EventSource parsing rules (WHATWG HTML §9.2.6), on bytes as they come."""

    def __init__(self):
        self.buffer = b""
        self.fields: dict[str, str] = {}
        self.data: list[str] = []
        self.comments: list[str] = []
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes) -> list[dict]:
        self.buffer += chunk
        events = []
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            line = line.rstrip(b"\r").decode()
            if not line:
                if self.data:
                    events.append({**self.fields, "data": "\n".join(self.data)})
                self.fields, self.data = {}, []
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self.data.append(value)
            elif name == "retry":
                self.retry_ms = int(value)
            else:
                self.fields[name] = value
        return events


class Follower:
    """What an EventSource page keeps: frames, texts by offset, the last id."""

    def __init__(self):
        self.frames: list[dict] = []
        self.ids: list[str] = []
        self.texts: dict[int, str] = {}
        self.last_event_id: str | None = None

    def take(self, event: dict) -> dict:
        frame = json.loads(event["data"])
        assert frame["type"] == event.get("event"), event
        if "id" in event:
            self.last_event_id = event["id"]
            self.ids.append(event["id"])
        answer = frame.get("message_id")
        text = self.texts.get(answer, "")
        if frame["type"] == "reply.snapshot":
            self.texts[answer] = apply_snapshot(text, frame["text"])
        elif frame["type"] == "reply.delta":
            self.texts[answer], gap = apply_delta(text, frame["offset"], frame["text"])
            assert not gap, f"gap: delta at {frame['offset']}, have {len(text)}"
            assert frame["offset"] == len(text), "a delta repeated text"
            assert event["id"] == f"{answer}:{len(self.texts[answer])}"
        self.frames.append(frame)
        return frame

    def of_type(self, kind: str) -> list[dict]:
        return [f for f in self.frames if f["type"] == kind]


class HttpStream:
    """One HTTP request to a real server over a raw socket; the body is read as
    it arrives (chunked transfer decoded)."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.parser = EventParser()
        self.pending: list[dict] = []

    @classmethod
    async def open(
        cls, base_url, path, *, method="GET", cookie="", body=None, headers=None
    ):
        host = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(host.hostname, host.port)
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {host.netloc}",
            f"Cookie: {cookie}; csrftoken={CSRF_TOKEN}",
            f"X-CSRFToken: {CSRF_TOKEN}",
            "Accept: text/event-stream",
            f"Content-Length: {len(payload)}",
            "Content-Type: application/json",
            *[f"{k}: {v}" for k, v in (headers or {}).items()],
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        stream = cls(reader, writer)
        status_line = await asyncio.wait_for(reader.readline(), 10)
        stream.status = int(status_line.split()[1])
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            stream.headers[name.strip().lower()] = value.strip()
        return stream

    async def _chunk(self) -> bytes:
        """The next piece of the body; b"" at its end or when the server is gone."""
        try:
            if self.headers.get("transfer-encoding") != "chunked":
                return await self.reader.read(65536)
            size = int((await self.reader.readline()).strip() or b"0", 16)
            if size == 0:
                return b""
            return (await self.reader.readexactly(size + 2))[:-2]
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""

    async def next_event(self, timeout: float = 10) -> dict | None:
        """The next event, or None when the server ended the stream."""
        async with asyncio.timeout(timeout):
            while not self.pending:
                chunk = await self._chunk()
                if not chunk:
                    return None
                self.pending.extend(self.parser.feed(chunk))
        return self.pending.pop(0)

    async def json(self) -> dict:
        length = int(self.headers.get("content-length", 0))
        return json.loads(await self.reader.readexactly(length))

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


class AsgiStream:
    """The same, against the ASGI application in this process."""

    def __init__(self):
        self.status = 0
        self.headers: dict[str, str] = {}
        self.parser = EventParser()
        self.pending: list[dict] = []
        self.body = b""
        self.messages: asyncio.Queue = asyncio.Queue()
        self.disconnect = asyncio.Event()
        self.task: asyncio.Task | None = None

    @classmethod
    async def open(cls, path, *, method="GET", cookie="", body=None, headers=None):
        from chatsite.asgi import application

        stream = cls()
        path, _, query = path.partition("?")
        payload = json.dumps(body).encode() if body is not None else b""
        raw_headers = [
            (b"host", b"localhost"),
            (b"cookie", f"{cookie}; csrftoken={CSRF_TOKEN}".encode()),
            (b"x-csrftoken", CSRF_TOKEN.encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            *[(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": raw_headers,
            "client": ("127.0.0.1", 1234),
            "server": ("localhost", 80),
        }
        sent_body = False

        async def receive():
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await stream.disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            await stream.messages.put(message)

        stream.task = asyncio.create_task(application(scope, receive, send))
        start = await asyncio.wait_for(stream.messages.get(), 10)
        stream.status = start["status"]
        stream.headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return stream

    async def _chunk(self) -> bytes:
        while True:
            message = await self.messages.get()
            if message is None:
                return b""
            body = message.get("body", b"")
            if not message.get("more_body"):
                self.messages.put_nowait(None)  # the end, for every later read
                return body
            if body:
                return body

    next_event = HttpStream.next_event

    async def json(self) -> dict:
        data = b""
        while chunk := await self._chunk():
            data += chunk
        return json.loads(data)

    async def close(self) -> None:
        """The client goes away: the server sees http.disconnect."""
        self.disconnect.set()
        await asyncio.wait_for(self.task, 10)


async def follow(stream, follower: Follower, until, timeout: float = 10) -> dict:
    """Apply events until one matches `until(frame)`; fail if the stream ends."""
    async with asyncio.timeout(timeout):
        while True:
            event = await stream.next_event(timeout)
            assert event is not None, "the stream ended early"
            frame = follower.take(event)
            if until(frame):
                return frame


def done_of(message_id):
    return lambda f: f["type"] == "reply.done" and f["message_id"] == message_id
