"""The HTTP under the OpenAI provider: answers read from aiohttp directly
(chat/providers/upstream_http.py), with the SDK still making the requests."""

import asyncio
import gzip
import json

import httpx2
import pytest

from chat.providers import ProviderError, TextDelta
from chat.providers.openai import OpenAIProvider
from chat.providers.upstream_http import sse_data
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


async def answer_text(settings, handle) -> str:
    """Run the provider against a raw server answering with `handle`."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    settings.CHAT_MAX_RETRIES = 0
    provider = OpenAIProvider()
    try:
        events = [
            event
            async for event in provider.stream(
                messages=[{"role": "user", "content": "hi"}], model="m"
            )
        ]
    finally:
        await provider.client.close()
        server.close()
        await server.wait_closed()
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_a_gzipped_answer_is_read_decoded(settings):
    """aiohttp undoes the coding; httpx2 must not be told of it a second time."""

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


class Blocks(httpx2.AsyncByteStream):
    def __init__(self, *blocks: bytes):
        self.blocks = blocks

    async def __aiter__(self):
        for block in self.blocks:
            yield block


async def test_sse_data_joins_lines_split_across_reads_and_ends_in_crlf():
    # A response another transport made (a proxy's): read through httpx2.
    response = httpx2.Response(
        200,
        stream=Blocks(
            b": comment\r\nda",
            b'ta: {"a": 1}\r\n\r\ndata: [DO',
            b"NE]\n\nevent: x\ndata:{}\n\ndata: never ended",
        ),
    )
    payloads = [data async for data in sse_data(response)]
    assert payloads == [b'{"a": 1}', b"[DONE]", b"{}"]
