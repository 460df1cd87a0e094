"""A websocket frame larger than any message is refused before the server reads it.

Against a real server process (uvicorn enforces the limit), on PostgreSQL and
Redis so that it shares this process's test database and sessions.
"""

import asyncio
import json
from contextlib import suppress

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed

from tests.servers import SiteServer, Tab, site_env
from tests.services import (  # noqa: F401 (fixtures)
    postgres_url,
    redis_url,
    url_of_the_test_database,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("orm_thread"),
]


def peak_rss_kb(pid: int) -> int:
    """The process's high-water mark of resident memory (VmHWM), in kB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


@pytest.fixture
def server(django_db_setup, postgres_url, redis_url, upstream, tmp_path):  # noqa: F811
    env = site_env(
        upstream_url=upstream.base_url,
        SECRET_KEY=settings.SECRET_KEY,
        DATABASE_URL=url_of_the_test_database(postgres_url),
        REDIS_URL=redis_url,
    )
    site = SiteServer("frames", env, tmp_path)
    site.start()
    try:
        site.wait_healthy()
        yield site
    finally:
        site.stop()


async def test_a_4_mb_frame_closes_the_socket_without_the_server_growing(
    server, alice, conversation
):
    tab = await Tab.open(server.url, alice, conversation.pk)
    await tab.send(type="resync", message_id=0)
    await tab.until("error")  # the socket is open and every code path warm
    before = peak_rss_kb(server.process.pid)

    with suppress(ConnectionClosed):  # the server may close before all is written
        await tab.ws.send(json.dumps({"type": "send", "content": "x" * 4_000_000}))
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(tab.ws.recv(), 10)

    after = peak_rss_kb(server.process.pid)
    print(f"server peak RSS: {before} kB before, {after} kB after the 4 MB frame")
    assert closed.value.rcvd.code == 1009
    assert after - before < 2048
    assert server.alive()
