"""`/metrics`: what the server measures about itself, for Prometheus.

In one process the values live in this process's registry, so each test reads the
endpoint before and after and compares. The multi-process mode (files in
PROMETHEUS_MULTIPROC_DIR) runs in child processes: prometheus_client picks its
storage when it is imported.
"""

import asyncio
import subprocess
import sys
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client
from prometheus_client.parser import text_string_to_metric_families

from chat import replies
from chat.models import Message
from tests.servers import BASE_DIR, Tab, session_cookie, two_servers
from tests.services import (  # noqa: F401 (fixtures)
    postgres_url,
    redis_url,
    services_env,
)
from tests.sse_client import Follower, HttpStream, done_of, follow

pytestmark = pytest.mark.django_db(transaction=True)


def value(text: str, name: str, **labels) -> float:
    """One sample of an exposition (0 when it is absent, as before a first event)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


async def scrape(client: AsyncClient | None = None) -> str:
    response = await (client or AsyncClient()).get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


async def test_a_reply_moves_its_status_tokens_frames_and_time_to_first_token(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(tokens=["word "] * 12, delay=0.02)
    socket = await connect(alice, conversation.pk)
    before = await scrape()

    await socket.send(type="send", content="count to twelve", client_id="m1")
    start = (await socket.receive_until("reply.start"))[-1]
    run = replies.local_run(start["message_id"])
    during = await scrape()
    events = await socket.receive_until("reply.done")
    await run.finished()
    after = await scrape()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(during, "chatsite_streams_running") == 1
    assert value(after, "chatsite_streams_running") == 0
    assert moved("chatsite_replies_total", status="complete") == 1
    assert moved("chatsite_replies_total", status="failed") == 0
    assert moved("chatsite_tokens_relayed_total") == 12
    assert moved("chatsite_time_to_first_token_seconds_count") == 1
    frames = sum(event["type"] == "reply.delta" for event in events)
    assert moved("chatsite_frame_added_latency_seconds_count") == frames


async def test_a_stopped_reply_counts_as_stopped(
    alice, conversation, connect, openai_upstream
):
    openai_upstream.script(tokens=["word "] * 200, delay=0.02)
    socket = await connect(alice, conversation.pk)
    before = await scrape()

    await socket.send(type="send", content="go on", client_id="m2")
    delta = (await socket.receive_until("reply.delta"))[-1]
    await socket.send(type="stop", message_id=delta["message_id"])
    done = (await socket.receive_until("reply.done"))[-1]
    after = await scrape()

    assert done["status"] == "stopped"
    stopped = value(after, "chatsite_replies_total", status="stopped")
    assert stopped - value(before, "chatsite_replies_total", status="stopped") == 1


async def test_a_resync_is_counted(alice, conversation, connect, openai_upstream):
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="hello", client_id="r1")
    done = (await socket.receive_until("reply.done"))[-1]
    before = await scrape()

    await socket.send(type="resync", message_id=done["message_id"])
    await socket.receive_until("reply.done")
    after = await scrape()

    resyncs = "chatsite_resyncs_total"
    moved = value(after, resyncs, transport="websocket") - value(
        before, resyncs, transport="websocket"
    )
    assert moved == 1


async def test_a_limit_refusal_is_counted_by_its_reason(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_DAILY_TOKEN_QUOTA = 10
    openai_upstream.script(tokens=["word "] * 20, prompt_tokens=5)
    socket = await connect(alice, conversation.pk)
    await socket.send(type="send", content="first", client_id="q1")
    await socket.receive_until("reply.done")
    before = await scrape()

    await socket.send(type="send", content="second", client_id="q2")
    assert (await socket.receive())["code"] == "quota"
    after = await scrape()

    refusals = "chatsite_limit_refusals_total"
    assert (
        value(after, refusals, reason="quota") - value(before, refusals, reason="quota")
        == 1
    )


async def test_a_reaped_reply_is_counted(alice, conversation):
    dead = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content="half",
        run_channel="specific.gone!x",
    )
    await Message.objects.filter(pk=dead.pk).aupdate(
        heartbeat_at=dead.created_at.replace(year=2000)
    )
    before = await scrape()

    assert await replies.areap_replies() == 1
    after = await scrape()

    reaped = "chatsite_replies_reaped_total"
    assert value(after, reaped) - value(before, reaped) == 1


@pytest.mark.parametrize("path", ["/metrics", "/healthz"])
@pytest.mark.parametrize(
    "address", ["203.0.113.9", "8.8.8.8", "127.0.0.2", "172.32.0.1", "2001:db8::1"]
)
def test_a_public_address_is_answered_like_a_missing_page(path, address):
    assert Client(REMOTE_ADDR=address).get(path).status_code == 404


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "10.1.2.3", "172.16.5.4", "192.168.1.20"]
)
def test_this_host_and_private_networks_read_the_metrics(address):
    response = Client(REMOTE_ADDR=address).get("/metrics")

    assert response.status_code == 200
    assert b"# TYPE chatsite_replies_total counter" in response.content


def test_an_ipv4_client_of_a_dual_stack_socket_counts_by_its_ipv4_address():
    assert Client(REMOTE_ADDR="::ffff:10.0.0.7").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::ffff:8.8.8.8").get("/metrics").status_code == 404


# A process of the site, as far as metrics go: it records what the test asks,
# says so, and lives until its standard input closes.
RECORDER = """
import sys
from chat import metrics
metrics.STREAMS_RUNNING.inc()
metrics.frame_sent(5, 0.0)
metrics.reply_finished("complete", 250)
print("recorded", flush=True)
sys.stdin.read()
"""

SCRAPER = "from chat import metrics; print(metrics.exposition().decode())"


class Processes:
    """Child processes sharing one PROMETHEUS_MULTIPROC_DIR."""

    def __init__(self, directory):
        self.env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(BASE_DIR),
            "PROMETHEUS_MULTIPROC_DIR": str(directory),
        }
        self.children: list[subprocess.Popen] = []

    def recorder(self) -> subprocess.Popen:
        child = subprocess.Popen(
            [sys.executable, "-c", RECORDER],
            cwd=BASE_DIR,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.children.append(child)
        assert child.stdout.readline() == "recorded\n"
        return child

    def scrape(self) -> str:
        return subprocess.run(
            [sys.executable, "-c", SCRAPER],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def close(self):
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()


@pytest.fixture
def processes(tmp_path):
    group = Processes(tmp_path / "metrics")
    yield group
    group.close()


def test_processes_sharing_a_directory_are_summed(processes):
    processes.recorder()
    processes.recorder()

    both = processes.scrape()

    assert value(both, "chatsite_streams_running") == 2
    assert value(both, "chatsite_tokens_relayed_total") == 10
    assert value(both, "chatsite_replies_total", status="complete") == 2
    assert value(both, "chatsite_time_to_first_token_seconds_count") == 2
    assert value(both, "chatsite_frame_added_latency_seconds_count") == 2


def test_a_process_that_ends_or_dies_leaves_its_totals_but_not_its_streams(
    processes,
):
    ending, dying, living = (processes.recorder() for _ in range(3))

    ending.stdin.close()  # a clean exit
    ending.wait()
    dying.kill()  # SIGKILL: no cleanup of its own
    dying.wait()
    left = processes.scrape()

    assert value(left, "chatsite_streams_running") == 1
    assert value(left, "chatsite_tokens_relayed_total") == 15
    assert value(left, "chatsite_replies_total", status="complete") == 3
    assert living.poll() is None


def test_a_site_starting_afresh_starts_its_totals_from_zero(processes):
    earlier = processes.recorder()
    earlier.kill()
    earlier.wait()

    processes.recorder()  # the first process of the next start
    fresh = processes.scrape()

    assert value(fresh, "chatsite_tokens_relayed_total") == 5
    assert value(fresh, "chatsite_streams_running") == 1


@pytest.mark.services
async def test_two_server_processes_each_answer_for_both(
    django_db_setup,
    postgres_url,  # noqa: F811
    redis_url,  # noqa: F811
    upstream,
    tmp_path,
    alice,
    conversation,
):
    env = services_env(
        name="metrics",
        upstream_url=upstream.base_url,
        postgres_url=postgres_url,
        redis_url=redis_url,
        layer="channels_redis.core.RedisChannelLayer",
        CHAT_MESSAGES_PER_MINUTE=0,
        PROMETHEUS_MULTIPROC_DIR=tmp_path / "metrics",
    )
    cookie = await sync_to_async(session_cookie)(alice)
    try:
        with two_servers(env, tmp_path) as servers:
            for number, server in enumerate(servers):
                tab = await Tab.open(server.url, alice, conversation.pk, cookie=cookie)
                await tab.joined()
                await tab.send(type="send", content="!tokens 5", client_id=f"s{number}")
                done = await tab.until("reply.done")
                await tab.close()
            # A page that lost frames asks again over Server-Sent Events.
            resync = await HttpStream.open(
                servers[1].url,
                f"/api/conversations/{conversation.pk}/events"
                f"?resync={done['message_id']}",
                cookie=cookie,
            )
            try:
                await follow(resync, Follower(), done_of(done["message_id"]))
            finally:
                await resync.close()
            readings = [
                await asyncio.to_thread(read_metrics, server.url) for server in servers
            ]
    finally:
        await sync_to_async(connections.close_all)()

    for text in readings:
        assert value(text, "chatsite_replies_total", status="complete") == 2
        assert value(text, "chatsite_tokens_relayed_total") == 10
        assert value(text, "chatsite_time_to_first_token_seconds_count") == 2
        assert value(text, "chatsite_resyncs_total", transport="sse") == 1
        assert value(text, "chatsite_streams_running") == 0


def read_metrics(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        return response.read().decode()
