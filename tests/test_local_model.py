"""The model that needs no key: SmolLM2 in-process, and llama.cpp's own server."""

import os
import socket as sockets
import subprocess
import sys
import time
import urllib.request

import pytest
from channels.testing import HttpCommunicator

from chat.models import Message
from chat.providers import get_provider
from chat.providers.local import model_path
from chatsite.asgi import application
from tests.conftest import text_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def local_model(settings):
    settings.CHAT_PROVIDER = "local"
    settings.CHAT_MODEL = ""
    settings.CHAT_LOCAL_MAX_TOKENS = 24
    settings.CHAT_LOCAL_CONTEXT = 1024
    return get_provider()


async def test_the_local_model_streams_a_stored_answer_with_token_counts(
    alice, conversation, connect, local_model
):
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="Name three colours.")
    events = await socket.receive_until("reply.done", timeout=120)

    done = events[-1]
    message = await Message.objects.aget(pk=done["message_id"])
    assert done["status"] == "complete", done["error"]
    assert sum(e["type"] == "reply.delta" for e in events) > 1
    assert message.content.strip() and text_of(events, message.pk) == message.content
    assert message.model == "SmolLM2-135M-Instruct.Q4_1"
    assert message.prompt_tokens > 5
    assert 0 < message.completion_tokens <= 24


async def test_the_event_loop_serves_others_while_the_local_model_generates(
    alice, conversation, connect, local_model, settings
):
    settings.CHAT_LOCAL_MAX_TOKENS = 400
    writer = await connect(alice, conversation.pk)
    await writer.send(type="send", content="Write a long story about a lighthouse.")
    start = (await writer.receive_until("reply.delta", timeout=120))[-1]

    # A page request and a second socket are answered while the reply runs.
    page = HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"localhost")]
    )
    assert (await page.get_response(timeout=5))["status"] == 200
    reader = await connect(alice, conversation.pk)
    snapshot = (await reader.receive_until("reply.snapshot", timeout=5))[-1]

    assert snapshot["type"] == "reply.snapshot"
    message = await Message.objects.aget(pk=start["message_id"])
    assert message.status == Message.Status.STREAMING, "the answer was still running"
    await writer.send(type="stop", message_id=start["message_id"])
    await writer.receive_until("reply.done", timeout=10)


async def test_stop_ends_a_local_generation_at_once(
    alice, conversation, connect, local_model, settings
):
    settings.CHAT_LOCAL_MAX_TOKENS = 500
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="Count from one to one thousand in words.")
    start = (await socket.receive_until("reply.delta", timeout=120))[-1]

    await socket.send(type="stop", message_id=start["message_id"])
    # A 500-token answer takes seconds; a stop is over well within one.
    done = (await socket.receive_until("reply.done", timeout=1))[-1]

    message = await Message.objects.aget(pk=done["message_id"])
    assert message.status == Message.Status.STOPPED
    assert message.completion_tokens < 500


async def test_a_second_reply_waits_its_turn_and_says_so(
    alice, connect, local_model, settings
):
    from chat.models import Conversation

    settings.CHAT_LOCAL_MAX_TOKENS = 40
    first_chat = await Conversation.objects.acreate(user=alice)
    second_chat = await Conversation.objects.acreate(user=alice)
    first = await connect(alice, first_chat.pk)
    second = await connect(alice, second_chat.pk)
    await first.send(type="send", content="Tell me about the sea.")
    await first.receive_until("reply.delta", timeout=120)

    await second.send(type="send", content="Tell me about the sky.")
    events = await second.receive_until("reply.done", timeout=120)

    queued = [e for e in events if e["type"] == "reply.queued"]
    assert queued and queued[0]["position"] == 1
    assert events[-1]["status"] == "complete"
    await first.receive_until("reply.done", timeout=120)


def free_port() -> int:
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama_cpp_server():
    """Run llama.cpp's OpenAI-compatible server on the same GGUF, in a process."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path()),
            "--port",
            str(port),
            "--n_ctx",
            "1024",
            "--model_alias",
            "smollm2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("llama_cpp.server did not start") from None
            time.sleep(0.2)  # polling a starting process: there is no event to await
    yield base_url
    process.terminate()
    process.wait(timeout=10)


async def test_the_openai_provider_talks_to_llama_cpps_own_server(
    alice, conversation, connect, llama_cpp_server, settings
):
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = llama_cpp_server
    settings.OPENAI_API_KEY = "unused"
    settings.CHAT_MODEL = "smollm2"
    settings.CHAT_REQUEST_TIMEOUT_S = 60
    socket = await connect(alice, conversation.pk)

    await socket.send(type="send", content="Say hello in five words.")
    events = await socket.receive_until("reply.done", timeout=120)

    done = events[-1]
    message = await Message.objects.aget(pk=done["message_id"])
    assert done["status"] == "complete", done["error"]
    assert message.content.strip() and text_of(events, message.pk) == message.content
    # This server sends no usage chunk: the counts are estimated, never missing.
    assert message.prompt_tokens > 0 and message.completion_tokens > 0
