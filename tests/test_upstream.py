"""The fake upstream, driven through the real openai SDK.

These tests need neither Django nor a database.
"""

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.upstream import (
    EMOJI_TOKENS,
    FakeUpstream,
    script_from_message,
    split_tokens,
)

ROOT = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"


@pytest.fixture
def upstream():
    with FakeUpstream() as server:
        yield server


@pytest.fixture
async def client(upstream):
    sdk = openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k", max_retries=0)
    yield sdk
    await sdk.close()


def user(text):
    return [{"role": "user", "content": text}]


async def open_stream(client, text="hello", **kwargs):
    return await client.chat.completions.create(
        model=MODEL,
        messages=user(text),
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    )


async def collect(stream):
    """Read a whole stream: (chunks, text, finish_reason, usage)."""
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    finish = next((f for f in finishes if f), None)
    usage = next((c.usage for c in chunks if c.usage), None)
    return chunks, text, finish, usage


async def reply(client, text="hello", **kwargs):
    _, content, finish, usage = await collect(await open_stream(client, text, **kwargs))
    return content, finish, usage


async def read_until_error(stream, received):
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received.append(chunk.choices[0].delta.content)


# -- the happy path ------------------------------------------------------------


async def test_streamed_tokens_join_back_into_the_scripted_text(upstream, client):
    text = "Hello, **world**!\n\n```python\nprint('hi')\n```\n  trailing  "
    upstream.script(text=text)

    chunks, content, finish, usage = await collect(await open_stream(client))

    assert content == text
    assert finish == "stop"
    assert usage.completion_tokens == len(split_tokens(text))
    first = chunks[0].choices[0].delta
    assert (first.role, first.content) == ("assistant", "")
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.id.startswith("chatcmpl-") for c in chunks)
    assert chunks[-1].choices == []  # the usage chunk comes last


async def test_scripted_tokens_arrive_one_per_chunk(upstream, client):
    tokens = ["Hel", "lo", " wor", "ld", "!"]
    upstream.script(tokens)

    chunks, content, _, usage = await collect(await open_stream(client))

    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert deltas[1 : 1 + len(tokens)] == tokens
    assert content == "Hello world!"
    assert usage.completion_tokens == len(tokens)


async def test_usage_counts_words_in_all_messages_and_tokens_sent(upstream, client):
    upstream.script(["a", "b", "c"])
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "one two three"},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    _, _, _, usage = await collect(stream)
    assert (usage.prompt_tokens, usage.completion_tokens) == (6, 3)
    assert usage.total_tokens == 9


async def test_scripted_prompt_tokens_override_the_word_count(upstream, client):
    upstream.script(["x"], prompt_tokens=1234)
    _, _, usage = await reply(client)
    assert usage.prompt_tokens == 1234


async def test_usage_chunk_is_sent_only_when_asked_for(upstream, client):
    upstream.script(text="no usage please")
    stream = await client.chat.completions.create(
        model=MODEL, messages=user("hi"), stream=True
    )
    chunks, content, finish, usage = await collect(stream)
    assert (content, finish, usage) == ("no usage please", "stop", None)
    assert all(c.choices for c in chunks)


async def test_usage_false_omits_usage_even_when_asked_for(upstream, client):
    upstream.script(text="quiet", usage=False)
    assert await reply(client) == ("quiet", "stop", None)


async def test_the_scripted_finish_reason_is_reported(upstream, client):
    upstream.script(text="cut off mid", finish_reason="length")
    _, finish, _ = await reply(client)
    assert finish == "length"


async def test_max_tokens_truncates_the_reply_with_finish_reason_length(
    upstream, client
):
    upstream.script(text="one two three four five")
    content, finish, usage = await reply(client, max_completion_tokens=2)
    assert (content, finish, usage.completion_tokens) == ("one two ", "length", 2)


async def test_scripts_are_used_in_order_one_per_request(upstream, client):
    upstream.script(text="first")
    upstream.script(text="second")
    assert upstream.pending_scripts == 2

    assert (await reply(client))[0] == "first"
    assert (await reply(client))[0] == "second"
    assert (await reply(client, "after"))[0] == "You said: after"
    assert upstream.pending_scripts == 0


async def test_requests_are_recorded_as_parsed_json(upstream, client):
    await reply(client, "remember me")
    assert upstream.wait_for_requests(1, timeout=1)
    body = upstream.requests[0]
    assert body["model"] == MODEL
    assert body["messages"] == user("remember me")
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert upstream.request_headers[0]["authorization"] == "Bearer k"
    assert upstream.completed_streams == 1


async def test_a_scripted_delay_spaces_out_the_tokens(upstream, client):
    upstream.script(["a", "b", "c", "d"], delay=0.05)
    started = time.monotonic()
    await reply(client)
    assert time.monotonic() - started >= 0.2


async def test_non_streaming_requests_get_a_whole_chat_completion(upstream, client):
    upstream.script(text="all at once")
    completion = await client.chat.completions.create(
        model=MODEL, messages=user("one two")
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "all at once"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 2
    assert completion.usage.completion_tokens == 3


async def test_models_are_listed(client):
    models = [model.id async for model in client.models.list()]
    assert MODEL in models
    assert (await client.models.retrieve(MODEL)).id == MODEL


async def test_many_streams_are_served_at_once(upstream, client):
    count = 25
    for _ in range(count):
        upstream.script(["a ", "b ", "c"], delay=0.1)
    started = time.monotonic()
    results = await asyncio.gather(*(reply(client) for _ in range(count)))
    assert [content for content, _, _ in results] == ["a b c"] * count
    assert time.monotonic() - started < 0.3 * count / 2  # far from serial
    assert upstream.max_active_streams > 1
    assert upstream.completed_streams == count


# -- failures ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_a_scripted_failure_status_raises_the_matching_sdk_error(
    upstream, client, status, error
):
    upstream.script(fail_status=status)
    with pytest.raises(error) as raised:
        await open_stream(client)
    assert raised.value.status_code == status
    assert raised.value.body["message"]
    assert raised.value.body["type"]
    if status == 429:
        assert raised.value.response.headers["retry-after"] == "0"


async def test_an_sdk_retry_consumes_the_next_script(upstream):
    upstream.script(fail_status=429)
    upstream.script(text="second time lucky")
    sdk = openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k", max_retries=1)
    try:
        content, _, _ = await reply(sdk)
    finally:
        await sdk.close()
    assert content == "second time lucky"
    assert len(upstream.requests) == 2


async def test_an_api_key_is_enforced_when_configured():
    with FakeUpstream(api_key="sk-right") as upstream:
        wrong = openai.AsyncOpenAI(
            base_url=upstream.base_url, api_key="sk-wrong", max_retries=0
        )
        right = openai.AsyncOpenAI(
            base_url=upstream.base_url, api_key="sk-right", max_retries=0
        )
        try:
            with pytest.raises(openai.AuthenticationError) as raised:
                await open_stream(wrong)
            assert raised.value.code == "invalid_api_key"
            assert (await reply(right, "ok"))[0] == "You said: ok"
        finally:
            await wrong.close()
            await right.close()
        assert len(upstream.requests) == 1  # the refused request is not recorded


async def test_a_dropped_stream_raises_api_connection_error(upstream, client):
    upstream.script(["a ", "b ", "c ", "d"], drop_after=2)
    stream = await open_stream(client)
    received = []
    with pytest.raises(openai.APIConnectionError) as raised:
        await read_until_error(stream, received)
    assert type(raised.value) is openai.APIConnectionError  # not a timeout
    assert "incomplete chunked read" in str(raised.value.__cause__)
    assert received == ["a ", "b "]
    assert upstream.completed_streams == 0


async def test_a_dropped_non_streaming_reply_raises_api_connection_error(
    upstream, client
):
    upstream.script(text="never whole", drop_after=1)
    with pytest.raises(openai.APIConnectionError) as raised:
        await client.chat.completions.create(model=MODEL, messages=user("hi"))
    assert type(raised.value) is openai.APIConnectionError


async def test_a_close_delimited_stream_cut_short_looks_complete_to_the_sdk():
    """Why the fake uses chunked encoding: without it, a drop is silent."""

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Connection: close\r\n\r\n"
        )
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": MODEL,
            "choices": [{"index": 0, "delta": {"content": "partial"}}],
        }
        writer.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sdk = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0
    )
    try:
        content, finish, _ = await reply(sdk)
    finally:
        await sdk.close()
        server.close()
        await server.wait_closed()
    assert (content, finish) == ("partial", None)


async def test_a_stalled_stream_raises_api_timeout_error(upstream, client):
    upstream.script(["a ", "b ", "c"], stall_after=1)
    stream = await open_stream(client, timeout=0.5)
    received = []
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await read_until_error(stream, received)
    assert 0.4 < time.monotonic() - started < 3
    assert received == ["a "]
    # The client gave up and closed the connection; the server noticed.
    assert await upstream.await_disconnect(timeout=2)


# -- directives in the last user message ---------------------------------------


async def test_plain_text_is_echoed_in_several_tokens(upstream, client):
    chunks, content, finish, usage = await collect(
        await open_stream(client, "What is 2 + 2?")
    )
    assert content == "You said: What is 2 + 2?"
    assert finish == "stop"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert usage.prompt_tokens == 5  # words: What is 2 + 2?


async def test_only_the_last_user_message_steers_the_reply(upstream, client):
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "!fail 500"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "!tokens 2"}]},
        ],
        stream=True,
    )
    _, content, _, _ = await collect(stream)
    assert content == "tok1 tok2"


async def test_the_tokens_directive_sends_that_many_tokens(client):
    _, content, _, usage = await collect(await open_stream(client, "!tokens 7"))
    assert content == "tok1 tok2 tok3 tok4 tok5 tok6 tok7"
    assert usage.completion_tokens == 7


async def test_tokens_and_delay_directives_combine(client):
    started = time.monotonic()
    content, _, usage = await reply(client, "!tokens 5 !delay 40")
    assert usage.completion_tokens == 5
    assert content.endswith("tok5")
    assert time.monotonic() - started >= 0.2


async def test_the_text_directive_replies_with_the_rest_verbatim(client):
    hostile = (
        '<script>alert("x")</script>\n\n'
        "# Title\n\n[click](javascript:alert(1)) <img src=x onerror=alert(1)>\n"
        "```\n  indented ```\n"
    )
    assert (await reply(client, "!text " + hostile))[0] == hostile
    assert (await reply(client, "!delay 1 !text\n" + hostile))[0] == hostile


async def test_the_emoji_directive_sends_astral_text_that_joins_exactly(client):
    _, content, _, usage = await collect(await open_stream(client, "!emoji 40"))
    assert content == "".join(EMOJI_TOKENS[i % len(EMOJI_TOKENS)] for i in range(40))
    assert usage.completion_tokens == 40
    assert "\U0001f469\u200d\U0001f4bb" in content  # a ZWJ sequence
    assert "\U0001f469\u200d\U0001f52c" in content  # one split across tokens
    assert any(ord(ch) > 0xFFFF for ch in content)


@pytest.mark.parametrize(
    ("directive", "error"),
    [
        ("!fail 401", openai.AuthenticationError),
        ("!fail 429", openai.RateLimitError),
        ("!fail 500", openai.InternalServerError),
    ],
)
async def test_the_fail_directive_answers_that_status(client, directive, error):
    with pytest.raises(error):
        await open_stream(client, directive)


async def test_the_drop_directive_cuts_the_stream(client):
    stream = await open_stream(client, "!tokens 10 !drop 3")
    received = []
    with pytest.raises(openai.APIConnectionError):
        await read_until_error(stream, received)
    assert received == ["tok1 ", "tok2 ", "tok3 "]


async def test_the_stall_directive_stalls_the_stream(upstream, client):
    stream = await open_stream(client, "!stall 2", timeout=0.5)
    received = []
    with pytest.raises(openai.APITimeoutError):
        await read_until_error(stream, received)
    assert received == ["tok1 ", "tok2 "]


async def test_finish_and_nousage_directives(client):
    content, finish, usage = await reply(client, "!tokens 2 !finish length !nousage")
    assert (content, finish, usage) == ("tok1 tok2", "length", None)


async def test_lines_after_a_directive_line_are_echoed(client):
    content, _, _ = await reply(client, "!delay 1\nsecond line")
    assert content == "You said: second line"


async def test_an_unknown_directive_is_just_text(client):
    content, _, _ = await reply(client, "!shout hello")
    assert content == "You said: !shout hello"


async def test_a_script_without_content_takes_it_from_the_directives(upstream, client):
    upstream.script(delay=0.01)
    assert (await reply(client, "!tokens 3"))[0] == "tok1 tok2 tok3"


# -- stopping early --------------------------------------------------------------


async def test_closing_a_stream_early_is_seen_as_a_disconnect(upstream, client):
    upstream.script(text="word " * 200, delay=0.02)
    stream = await open_stream(client)
    received = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            received += 1
            if received == 3:
                break
    assert not upstream.client_disconnected.is_set()
    await stream.close()

    assert await upstream.await_disconnect(timeout=2)
    assert upstream.client_disconnected.is_set()
    assert upstream.disconnects == 1
    assert upstream.completed_streams == 0


async def test_leaving_a_stream_context_early_is_seen_as_a_disconnect(upstream, client):
    async with await open_stream(client, "!tokens 500 !delay 20") as stream:
        async for _ in stream:
            break
    assert await upstream.await_disconnect(timeout=2)


async def test_wait_for_disconnect_times_out_when_the_client_stays(upstream, client):
    await reply(client)
    assert upstream.wait_for_disconnect(timeout=0.2) is False
    assert upstream.disconnects == 0


async def test_stopping_the_server_is_quick_even_mid_stream():
    upstream = FakeUpstream().start()
    sdk = openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k", max_retries=0)
    try:
        upstream.script(["slow"] * 100, delay=10)
        stalled = await open_stream(sdk)
        await stalled.__anext__()  # the role chunk: the stream is open
        started = time.monotonic()
        await asyncio.to_thread(upstream.stop)
        assert time.monotonic() - started < 1.5
        assert upstream.disconnects == 0  # stopping is not a client leaving
        with pytest.raises(openai.APIConnectionError):
            await read_until_error(stalled, [])
    finally:
        await sdk.close()


# -- pure helpers -----------------------------------------------------------------


@given(st.text())
def test_split_tokens_always_joins_back_to_the_text(text):
    assert "".join(split_tokens(text)) == text


@given(st.text())
def test_the_text_directive_is_verbatim_for_any_text(text):
    assert "".join(script_from_message("!text " + text).tokens) == text


# -- as a separate process ------------------------------------------------------


def test_running_as_a_module_prints_the_base_url_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.upstream", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        sdk = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)
        with sdk.chat.completions.create(
            model=MODEL,
            messages=user("!tokens 3"),
            stream=True,
            stream_options={"include_usage": True},
        ) as stream:
            chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "tok1 tok2 tok3"
        assert chunks[-1].usage.completion_tokens == 3
        sdk.close()
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
        process.stdout.close()


def test_the_provider_builds_one_client_per_event_loop(settings):
    from chat.providers.openai import OpenAIProvider

    provider = OpenAIProvider()

    async def clients():
        return provider.client, provider.client

    first, again = asyncio.run(clients())
    second, _ = asyncio.run(clients())
    assert first is again  # built once in a loop
    assert second is not first  # a client's connections belong to its loop


async def test_the_provider_uses_an_idle_upstream_connection_again(
    openai_upstream, monkeypatch
):
    """The SDK's pool drops a connection idle for 5 s: a send after a pause (or a
    burst of them) would connect anew and, to a remote service, shake hands again."""
    import aiohttp.connector

    from chat.providers.openai import OpenAIProvider

    provider = OpenAIProvider()
    history = user("hello")
    [event async for event in provider.stream(messages=history, model=MODEL)]
    # Thirty seconds later, as the pool's clock tells.
    later = aiohttp.connector.monotonic() + 30
    monkeypatch.setattr(aiohttp.connector, "monotonic", lambda: later)
    [event async for event in provider.stream(messages=history, model=MODEL)]

    first, second = openai_upstream.request_peers
    assert second == first  # one connection, kept
