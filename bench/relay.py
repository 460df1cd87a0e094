"""The bare relay: the least a server can do to stream an upstream to a websocket.

Figure 7's limit. For each websocket client it opens a raw asyncio connection to the
bench upstream, reads the SSE lines, `json.loads` each chunk and writes one websocket
frame per token, holding the token's text. Nothing else: no framework, no database,
no channel layer, no offsets. The site's CPU per token is reported against it.

    python -m bench.relay --upstream http://127.0.0.1:P/v1   # prints ws://127.0.0.1:Q/

A client asks for an answer in the URL: `ws://127.0.0.1:Q/?bench+250+50`.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import struct
from urllib.parse import unquote_plus

from bench.upstream import serve_until_stopped

try:
    import uvloop  # the site's loop: the floor is measured on the same one
except ImportError:  # pragma: no cover
    uvloop = None

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, unfragmented server frame (RFC 6455 §5.2)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


async def handshake(reader, writer) -> str:
    """Accept the websocket; return what the client asked for (the query)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    target = lines[0].split(" ")[1]
    key = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return unquote_plus(target.partition("?")[2])


async def relay(client_reader, client_writer, upstream: tuple[str, int]) -> None:
    try:
        content = await handshake(client_reader, client_writer)
        body = json.dumps(
            {
                "model": "bench",
                "stream": True,
                "messages": [{"role": "user", "content": content}],
            }
        ).encode()
        reader, writer = await asyncio.open_connection(*upstream)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (upstream[0].encode(), len(body), body)
        )
        try:
            while line := await reader.readline():
                if not line.startswith(b"data: {"):
                    continue  # HTTP head, chunk sizes, blank lines, [DONE]
                for choice in json.loads(line[6:])["choices"]:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        client_writer.write(ws_frame(text.encode()))
                        await client_writer.drain()
        finally:
            writer.close()
        client_writer.write(ws_frame(struct.pack("!H", 1000), opcode=0x8))
        await client_writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        client_writer.close()


async def serve(upstream_url: str) -> None:
    host, _, port = upstream_url.split("//")[1].split("/")[0].partition(":")
    upstream = (host, int(port))
    server = await asyncio.start_server(
        lambda r, w: relay(r, w, upstream), "127.0.0.1", 0, backlog=2048
    )
    port = server.sockets[0].getsockname()[1]
    await serve_until_stopped(server, f"ws://127.0.0.1:{port}/")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the bench upstream's /v1")
    args = parser.parse_args(argv)
    (uvloop.run if uvloop is not None else asyncio.run)(serve(args.upstream))


if __name__ == "__main__":
    main()
