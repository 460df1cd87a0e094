"""The HTTP under the OpenAI provider: answers read from aiohttp directly
(chat/providers/upstream_http.py), with the SDK still making the requests."""

import asyncio
import contextlib
import gzip
import json

import httpx2
import pytest

from chat.providers import ProviderError, TextDelta
from chat.providers.openai import OpenAIProvider
from chat.providers.upstream_http import BODY, sse_data
from chat.replies import errors


def chunk(text: str) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


HI = [{"role": "user", "content": "hi"}]


@contextlib.asynccontextmanager
async def raw_server(handle):
    """A server answering each connection with `handle`; yields its port."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def streamed_text() -> str:
    """The text the provider streams from the configured upstream."""
    provider = OpenAIProvider()
    try:
        events = [event async for event in provider.stream(messages=HI, model="m")]
    finally:
        await provider.client.close()
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def answer_text(settings, handle) -> str:
    """Run the provider against a raw server answering with `handle`."""
    async with raw_server(handle) as port:
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
        settings.CHAT_MAX_RETRIES = 0
        return await streamed_text()


async def test_a_gzipped_answer_is_read_decoded(settings):
    """aiohttp undoes the coding of a streamed answer."""

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        body = gzip.compress(chunk("com") + chunk("pressed") + b"data: [DONE]\n\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    assert await answer_text(settings, handle) == "compressed"


async def test_a_gzipped_title_is_read_once_decoded(settings):
    """The SDK reads a whole response (a title) through httpx2: aiohttp decoded
    it already, so httpx2 must not be told of the coding a second time."""
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Packed title"},
                "finish_reason": "stop",
            }
        ],
    }

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        body = gzip.compress(json.dumps(completion).encode())
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        writer.close()

    async with raw_server(handle) as port:
        settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
        provider = OpenAIProvider()
        try:
            title = await provider.title(messages=HI, model="m")
        finally:
            await provider.client.close()
    assert title == "Packed title"


async def test_answers_go_through_the_proxy_the_environment_names(
    settings, monkeypatch
):
    """httpx2 reads HTTP(S)_PROXY only when it builds its own transport: with
    ours, aiohttp must (a deployment whose traffic goes out through a proxy)."""
    asked = []

    async def proxy(reader, writer):  # answers itself: the upstream is unreachable
        head = await reader.readuntil(b"\r\n\r\n")
        asked.append(head.split(b" ")[1])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        writer.write(chunk("proxied") + b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()

    async with raw_server(proxy) as port:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        settings.OPENAI_BASE_URL = "http://upstream.invalid/v1"
        assert await streamed_text() == "proxied"
    assert asked == [b"http://upstream.invalid/v1/chat/completions"]


async def test_the_answer_is_not_read_through_httpx2s_line_layers(
    settings, monkeypatch
):
    """Each token through httpx2's raw, bytes, text and line readers cost about a
    third of reading it (bench/README.md): the provider reads aiohttp's stream."""

    def refuse(*args, **kwargs):
        raise AssertionError("read through httpx2")

    for reader in ("aiter_lines", "aiter_text", "aiter_bytes", "aiter_raw"):
        monkeypatch.setattr(httpx2.Response, reader, refuse)

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        writer.write(chunk("direct") + b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()

    assert await answer_text(settings, handle) == "direct"


async def test_a_connection_cut_mid_answer_is_a_connection_error(settings):
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        data = chunk("partial")
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))
        await writer.drain()
        writer.close()  # no last chunk: the body ends early

    with pytest.raises(ProviderError) as failure:
        await answer_text(settings, handle)
    assert str(failure.value) == errors.CONNECTION_ERROR


class Blocks:
    """Reads as aiohttp's body stream does, in the pieces given."""

    def __init__(self, *blocks: bytes):
        self.blocks = blocks

    async def iter_any(self):
        for block in self.blocks:
            yield block


async def test_sse_data_joins_lines_split_across_reads_and_ends_in_crlf():
    blocks = Blocks(
        b": comment\r\nda",
        b'ta: {"a": 1}\r\n\r\ndata: [DO',
        b"NE]\n\nevent: x\ndata:{}\n\ndata: never ended",
    )
    response = httpx2.Response(200, extensions={BODY: blocks})
    payloads = [data async for data in sse_data(response)]
    assert payloads == [b'{"a": 1}', b"[DONE]", b"{}"]
