"""The server goes away mid-conversation and comes back on the same port."""

import pytest

from tests.browser.conftest import (
    ask,
    expect,
    new_chat,
    screenshot,
    wait_connected,
)
from tests.servers import SiteServer

pytestmark = pytest.mark.browser


@pytest.fixture
def own_server(server_env, tmp_path):
    """A server process of this test's own, on the shared database."""
    server = SiteServer("restart", server_env, tmp_path)
    server.start()
    server.wait_healthy()
    yield server
    server.stop()


def test_the_page_reconnects_by_itself_after_a_server_restart(contexts, own_server):
    page = contexts.new_page(base_url=own_server.url)
    new_chat(page)
    ask(page, "before the restart")
    status = page.locator("#connection-status")
    expect(status).to_be_hidden()

    own_server.stop()
    expect(page.locator("body")).not_to_have_attribute("data-socket", "open")
    expect(status).to_be_visible()
    expect(status).to_have_attribute("data-state", "reconnecting")
    expect(page.locator("#connection-text")).to_have_text("Reconnecting…")
    expect(page.locator("body")).to_have_attribute("data-socket", "closed")
    screenshot(page, "reconnecting")

    own_server.start()
    own_server.wait_healthy()
    wait_connected(page)
    expect(status).to_be_hidden()
    reply = ask(page, "after the restart")
    expect(reply.locator(".message-html")).to_have_text("You said: after the restart")
    expect(page.locator("article.message")).to_have_count(4)
