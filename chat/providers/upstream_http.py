"""The HTTP under the OpenAI SDK: aiohttp, with a streamed answer's bytes read
straight from aiohttp.

The SDK still builds every request and maps every error status; only the
answer's SSE lines are read here. Through the SDK's own line reader each token
passed eight async generators and four decoders (the SDK's lines, httpx2's raw,
bytes, text and line layers, the adapter's chunks): about a third of what reading
a token cost the server (bench/README.md, figure 7). `AiohttpTransport` hands the
body's aiohttp stream over in the response's extensions (`BODY`), and
`sse_data` splits it into `data:` payloads.

aiohttp undoes a content coding itself, so the response httpx2 sees has none: its
bytes are the body as sent, whoever reads them.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import httpx2

BODY = "chat.aiohttp_body"  # response extension: the body's aiohttp.StreamReader

# aiohttp's errors as httpx2's, which the SDK retries and maps (most specific first).
_ERRORS = (
    (aiohttp.ConnectionTimeoutError, httpx2.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx2.ConnectError),
    (aiohttp.ServerTimeoutError, httpx2.ReadTimeout),
    (asyncio.TimeoutError, httpx2.ReadTimeout),
    (aiohttp.ClientPayloadError, httpx2.ReadError),
    (aiohttp.ClientError, httpx2.TransportError),
)


@contextlib.contextmanager
def httpx_errors():
    """Raise aiohttp's errors as httpx2's."""
    try:
        yield
    except httpx2.HTTPError:
        raise
    except Exception as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc) or type(exc).__name__) from exc
        raise


class _Body(httpx2.AsyncByteStream):
    """The body for httpx2's own readers (an error status's body, for the SDK)."""

    def __init__(self, response: aiohttp.ClientResponse):
        self.response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with httpx_errors():
            async for block in self.response.content.iter_any():
                yield block

    async def aclose(self) -> None:
        # An answer not read to its end closes its connection (the upstream
        # sees the disconnect and stops generating); a whole one is kept.
        self.response.release()
        await self.response.wait_for_close()


class AiohttpTransport(httpx2.AsyncBaseTransport):
    """One aiohttp session (built in the loop of its first request) for httpx2."""

    def __init__(self, limits: httpx2.Limits):
        self.limits = limits
        self.session: aiohttp.ClientSession | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.limits.max_connections or 0,
                    keepalive_timeout=self.limits.keepalive_expiry,
                    # httpx2's certificates (SSL_CERT_FILE, the system's), as the
                    # SDK's own clients verify them.
                    ssl=httpx2.create_ssl_context(),
                ),
                auto_decompress=True,
                # HTTPS_PROXY and NO_PROXY, as httpx2 honours them without a
                # transport of ours.
                trust_env=True,
            )
        timeout = request.extensions.get("timeout", {})
        with httpx_errors():
            response = await self.session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=await request.aread() or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        # Decoded by aiohttp: the coding and the coded length no longer apply.
        headers = [
            (name, value)
            for name, value in response.raw_headers
            if name.lower() not in (b"content-encoding", b"content-length")
        ]
        return httpx2.Response(
            response.status,
            headers=headers,
            stream=_Body(response),
            request=request,
            extensions={"http_version": b"HTTP/1.1", BODY: response.content},
        )

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


async def sse_data(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The `data:` payloads of a Server-Sent Events body, as bytes, in order.

    Read from aiohttp's stream, which `AiohttpTransport` (every response of the
    provider's client, proxied ones included) puts in the response. Lines end in
    LF or CRLF (a bare CR, which the format also allows, is not seen in practice).
    """
    rest = b""
    with httpx_errors():
        async for block in response.extensions[BODY].iter_any():
            lines = (rest + block).split(b"\n") if rest else block.split(b"\n")
            rest = lines.pop()  # what follows the last LF: a line still coming
            for line in lines:
                if line.startswith(b"data:"):
                    yield line[5:].strip()
