"""A benchmark upstream that speaks OpenAI's streaming Chat Completions protocol.

A small HTTP/1.1 server on raw asyncio streams (standard library only), run in its
own process so its CPU is not counted against the site::

    python -m bench.upstream --port 0      # prints its base URL, then serves

Every token's text is the ``time.monotonic_ns()`` at which it was written to the
socket, followed by one space (``"1234567890123 "``). ``CLOCK_MONOTONIC`` is shared
by all processes of one machine, so whoever receives a token knows how long it took.

What to send is taken from the last user message: ``bench N R`` asks for N tokens
at R tokens/s (R = 0: as fast as the socket takes them). ``bench N R md`` sends a
Markdown answer instead, for figure 7b: tokens are short words (about 4.5
characters, as in English text; a stamp is 20, which would overstate the cost of
rendering per token), with a heading, paragraphs, a code block and a table in every
100 tokens, and no stamps (count its tokens as N). Anything else gets 20 tokens as
fast as possible. Keep-alive is supported (the SDK pools connections).
"""

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)
# Chunk templates, built once: a token costs a few string concatenations.
_BASE = '"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"'


def _frames(model: str, usage: bool):
    tail = ',"usage":null}' if usage else "}"
    base = "data: {" + _BASE + model + '","choices":[{"index":0,'
    role = base + '"delta":{"role":"assistant","content":""},"finish_reason":null}]'
    token_head = base + '"delta":{"content":"'
    token_tail = ' "},"finish_reason":null}]' + tail + "\n\n"
    finish = base + '"delta":{},"finish_reason":"stop"}]' + tail + "\n\n"
    return role + tail + "\n\n", token_head, token_tail, finish


# `bench N R md`: Markdown put before word i % 100, about six blocks per 100
# tokens, as a formatted answer has.
_MARKDOWN = {
    0: "\n\n## Part\n\n",
    30: "\n\n",
    50: "\n\n```python\n",
    65: "\n```\n\n| key | value |\n| --- | --- |\n| a | ",
    70: " |\n| b | ",
    75: " |\n| c | ",
    80: " |\n\n",
}
_MARKDOWN_JSON = {i: json.dumps(text)[1:-1] for i, text in _MARKDOWN.items()}
_WORDS = "the rows are read one by one and each value is kept as text".split()


def _chunk(text: str) -> bytes:
    data = text.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


def parse_directive(body: dict) -> tuple[int, float, bool]:
    """Return (tokens, tokens per second (0 = as fast as possible), Markdown?)."""
    content = ""
    for message in body.get("messages") or []:
        if message.get("role") == "user":
            content = str(message.get("content") or "")
    words = content.split()
    if len(words) >= 3 and words[0] == "bench":
        try:
            markdown = words[3:4] == ["md"]
            return max(0, int(words[1])), max(0.0, float(words[2])), markdown
        except ValueError:
            pass
    return 20, 0.0, False


async def stream_reply(writer: asyncio.StreamWriter, body: dict) -> None:
    tokens, rate, markdown = parse_directive(body)
    if markdown:
        await stream_markdown(writer, body, tokens, rate)
        return
    model = str(body.get("model") or "bench")
    usage = bool((body.get("stream_options") or {}).get("include_usage"))
    role, token_head, token_tail, finish = _frames(model, usage)
    writer.write(HEAD + _chunk(role))
    await writer.drain()
    monotonic_ns = time.monotonic_ns
    if rate > 0:
        interval = 1 / rate
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(tokens):
            delay = start + i * interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(_chunk(token_head + str(monotonic_ns()) + token_tail))
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()
            if writer.transport.is_closing():
                return
    else:
        for i in range(tokens):
            writer.write(_chunk(token_head + str(monotonic_ns()) + token_tail))
            if i % 32 == 31:
                # Let the socket take it (and other streams run) every 32 tokens.
                await writer.drain()
                await asyncio.sleep(0)
            if writer.transport.is_closing():
                return
    writer.write(_chunk(_ending(finish, model, usage, tokens)) + b"0\r\n\r\n")
    await writer.drain()


def _ending(finish: str, model: str, usage: bool, tokens: int) -> str:
    """The finish chunk, the usage chunk when asked for, and [DONE]."""
    tail = finish
    if usage:
        counts = {"prompt_tokens": 1, "completion_tokens": tokens}
        counts["total_tokens"] = tokens + 1
        tail += (
            "data: {" + _BASE + model + '","choices":[],"usage":'
            f"{json.dumps(counts)}}}\n\n"
        )
    return tail + "data: [DONE]\n\n"


async def stream_markdown(
    writer: asyncio.StreamWriter, body: dict, tokens: int, rate: float
) -> None:
    """`bench N R md`: the Markdown answer, N word tokens at R tokens/s."""
    model = str(body.get("model") or "bench")
    usage = bool((body.get("stream_options") or {}).get("include_usage"))
    role, token_head, token_tail, finish = _frames(model, usage)
    token_tail = token_tail[1:]  # the template's space ends a stamp; words bring theirs
    writer.write(HEAD + _chunk(role))
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(tokens):
        if rate > 0 and (delay := start + i / rate - loop.time()) > 0:
            await asyncio.sleep(delay)
        word = _MARKDOWN_JSON.get(i % 100, "") + _WORDS[i % len(_WORDS)] + " "
        writer.write(_chunk(token_head + word + token_tail))
        await writer.drain()
        if writer.transport.is_closing():
            return
    writer.write(_chunk(_ending(finish, model, usage, tokens)) + b"0\r\n\r\n")
    await writer.drain()


def _simple(status: str, body: bytes, ctype: str = "text/plain") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path = [*lines[0].split(" "), "", ""][:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            raw = await reader.readexactly(length) if length else b""
            if method == "POST" and path.endswith("/chat/completions"):
                body = json.loads(raw or b"{}")
                if body.get("stream"):
                    await stream_reply(writer, body)
                else:
                    writer.write(_simple("400 Bad Request", b"stream only"))
            elif method == "GET" and path.rstrip("/").endswith("/health"):
                writer.write(_simple("200 OK", b"ok"))
            elif method == "GET" and "/models" in path:
                models = {"object": "list", "data": [{"id": "bench"}]}
                writer.write(
                    _simple("200 OK", json.dumps(models).encode(), "application/json")
                )
            else:
                writer.write(_simple("404 Not Found", b"not found"))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=2048)
    port = server.sockets[0].getsockname()[1]
    await serve_until_stopped(server, f"http://{host}:{port}/v1")


async def serve_until_stopped(server: asyncio.Server, url: str) -> None:
    """Say where the server listens (the bench reads the first line), serve until
    SIGINT or SIGTERM."""
    print(url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        sys.exit("The bench upstream only listens on 127.0.0.1.")
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
