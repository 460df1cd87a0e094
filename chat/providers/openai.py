"""OpenAI-compatible backend: OpenAI itself, vLLM, Ollama, llama.cpp's server, …"""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import httpx2
import openai
import orjson
from django.conf import settings

from chat.openai_client import openai_client
from chat.providers.base import (
    Finish,
    Provider,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from chat.providers.upstream_http import AiohttpTransport, sse_data
from chat.replies import errors

logger = logging.getLogger(__name__)

# A fast upstream hands a whole socket read of chunks over without yielding; give
# other sockets of this process a turn every so often (docs/FIELD_NOTES.md).
YIELD_EVERY_S = 0.002
# Idle upstream connections are kept this long (the SDK's default is 5 s): a send
# after a pause, or a burst of them, then skips the new connection (and, to a
# remote service, its TLS handshake). A server that closes sooner only makes the
# pool open a new one.
UPSTREAM_KEEPALIVE_S = 60
# Side requests stay short: the model list (pages wait for it) and titles.
LIST_TIMEOUT_S = 5
TITLE_TIMEOUT_S = 20
TITLE_MAX_TOKENS = 24
# Where servers stream a model's thinking: DeepSeek and llama.cpp's server say
# `reasoning_content`, vLLM and OpenRouter `reasoning`.
REASONING_FIELDS = ("reasoning_content", "reasoning")


def usage_from(usage: dict) -> Usage:
    details = usage.get("completion_tokens_details") or {}
    return Usage(
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        details.get("reasoning_tokens"),
    )


def reasoning_in(delta: dict) -> str:
    for field in REASONING_FIELDS:
        if isinstance(delta.get(field), str) and delta[field]:
            return delta[field]
    return ""


# The clients built in each event loop, so a loop's owner can close them.
_built_in: dict[int, list[openai.AsyncOpenAI]] = {}


async def close_clients() -> None:
    """Close the clients built in the running loop and their connections (the
    test suite runs each test on a loop of its own)."""
    for client in _built_in.pop(id(asyncio.get_running_loop()), []):
        await client.close()


def error_message(exc: Exception) -> str:
    """Say what went wrong in words a person understands."""
    if isinstance(exc, openai.AuthenticationError):
        return errors.AUTHENTICATION_ERROR
    if isinstance(exc, openai.PermissionDeniedError):
        return errors.PERMISSION_ERROR
    if isinstance(exc, openai.NotFoundError):
        return errors.NOT_FOUND_ERROR
    if isinstance(exc, openai.RateLimitError):
        return errors.RATE_LIMIT_ERROR
    if isinstance(exc, openai.BadRequestError):
        return errors.BAD_REQUEST_ERROR
    if isinstance(exc, openai.APIStatusError):
        return f"The model service failed ({exc.status_code}). Try again in a moment."
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return errors.TIMEOUT_ERROR
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return errors.CONNECTION_ERROR
    return errors.UNREADABLE_ERROR


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(self):
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, object]] = {}

    @property
    def client(self) -> openai.AsyncOpenAI:
        """This event loop's client, built once: the first use costs tens of
        milliseconds, and its connections belong to one loop.

        Its HTTP is aiohttp's (chat/providers/upstream_http.py): httpx pauses and
        resumes the socket around every read and sets a timer per read, and the
        server's CPU per token relayed was a quarter lower without
        (bench/README.md, figure 7)."""
        loop = asyncio.get_running_loop()
        built = self._clients.get(id(loop))
        if built is None or built[0] is not loop:
            limits = httpx2.Limits(
                max_connections=1000,  # the SDK's own limits otherwise
                max_keepalive_connections=100,
                keepalive_expiry=UPSTREAM_KEEPALIVE_S,
            )
            client = openai_client(
                http_client=openai.DefaultAioHttpClient(
                    limits=limits, transport=AiohttpTransport(limits)
                )
            )
            self._clients = {id(loop): (loop, client)}  # one loop a process
            _built_in.setdefault(id(loop), []).append(client)
            built = self._clients[id(loop)]
        return built[1]

    def default_model(self) -> str:
        return settings.CHAT_MODEL

    def list_models(self) -> list[str]:
        # A short timeout: the conversation page waits for this list (once per
        # cache period, see chat/choices.py).
        client = openai_client(sync=True, timeout=LIST_TIMEOUT_S, max_retries=0)
        try:
            return sorted(model.id for model in client.models.list())
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise ProviderError(error_message(exc)) from exc
        finally:
            client.close()

    async def title(self, *, messages: list[dict], model: str) -> str | None:
        # One short, non-streaming request, after the answer is stored.
        try:
            completion = await self.client.with_options(
                timeout=TITLE_TIMEOUT_S, max_retries=0
            ).chat.completions.create(
                model=model, messages=messages, max_tokens=TITLE_MAX_TOKENS
            )
        except (openai.OpenAIError, httpx2.HTTPError) as exc:
            raise ProviderError(error_message(exc)) from exc
        choices = completion.choices or []
        return (choices[0].message.content or "") if choices else ""

    @contextlib.asynccontextmanager
    async def _answer_request(self, body: dict) -> AsyncIterator[httpx2.Response]:
        """The streamed answer's response, its body not yet read; closed on the
        way out (early, it closes the connection: generation stops upstream)."""
        response = await self.client.post(
            "/chat/completions", cast_to=httpx2.Response, body=body, stream=True
        )
        try:
            yield response
        finally:
            await response.aclose()

    async def stream(self, *, messages: list[dict], model: str) -> AsyncIterator:
        usage = None
        produced = []
        thought = []
        finished = False
        try:
            # The SDK's typed request building walks `messages` on the event loop
            # (8 ms for 50 of them) and its chunk parsing costs ~250 µs a chunk:
            # the body, already plain JSON, goes through its `post` (still its
            # headers, retries and error statuses), and we read the SSE lines
            # ourselves, from aiohttp (upstream_http.py; bench/README.md has the
            # figures).
            async with self._answer_request(
                {
                    "model": model,
                    "messages": messages,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    # max_tokens, not max_completion_tokens: what OpenAI-compatible
                    # servers (vLLM, Ollama, llama.cpp) understand.
                    "max_tokens": self.max_answer_tokens(),
                }
            ) as response:
                last_yield = time.monotonic()
                async for data in sse_data(response):
                    if data == b"[DONE]":
                        finished = True
                        break
                    chunk = orjson.loads(data)  # a fifth of json.loads's time
                    if chunk.get("error"):
                        raise ProviderError(
                            "The model service failed mid-answer: "
                            f"{chunk['error'].get('message') or 'no reason given'}"
                        )
                    if chunk.get("usage"):
                        usage = usage_from(chunk["usage"])
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        reasoning = reasoning_in(delta)
                        if reasoning:
                            thought.append(reasoning)
                            yield ReasoningDelta(reasoning)
                        content = delta.get("content")
                        if content:
                            produced.append(content)
                            yield TextDelta(content)
                        if choice.get("finish_reason"):
                            finished = True
                            yield Finish(choice["finish_reason"])
                    now = time.monotonic()
                    if now - last_yield > YIELD_EVERY_S:
                        await asyncio.sleep(0)
                        last_yield = time.monotonic()
            if not finished:
                # A body without a length that ends early reads like a short
                # one: only [DONE] or a finish_reason says the answer is whole.
                raise httpx2.RemoteProtocolError("the stream ended mid-answer")
        except (openai.OpenAIError, httpx2.HTTPError, ValueError) as exc:
            logger.warning("Upstream failed for model %s: %r", model, exc)
            raise ProviderError(error_message(exc)) from exc
        if usage is None:
            # Some OpenAI-compatible servers ignore include_usage.
            usage = self.estimate_usage(
                messages=messages, text="".join(produced), reasoning="".join(thought)
            )
        yield usage
