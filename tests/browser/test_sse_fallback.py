"""The page behind a proxy that refuses websocket upgrades: it falls back to
Server-Sent Events plus POST by itself, and chats, stops and resumes as before."""

import contextlib
import socket
import threading

import pytest

from tests.browser.conftest import (
    ask,
    expect,
    new_chat,
    reload_mid_reply_shows_the_whole_answer,
    send,
    wait_streaming_with_text,
)

pytestmark = pytest.mark.browser

REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class UpgradeRefusingProxy:
    """A reverse proxy in front of the site that answers every websocket upgrade
    with 403, as some corporate proxies do; everything else passes through."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.refused = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                threading.Thread(
                    target=self._serve, args=(client,), daemon=True
                ).start()

    def _serve(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                client.close()
                return
            head += chunk
        if b"upgrade: websocket" in head.lower():
            self.refused += 1
            client.sendall(REFUSAL)
            client.close()
            return
        site = socket.create_connection(("127.0.0.1", self.target_port))
        site.sendall(head)
        threading.Thread(target=self._pipe, args=(site, client), daemon=True).start()
        self._pipe(client, site)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def behind_proxy(contexts, live_site):
    proxy = UpgradeRefusingProxy(live_site.port)
    page = contexts.new_page(base_url=proxy.url)
    yield page, proxy
    proxy.close()


def test_the_page_chats_over_server_sent_events_when_websockets_are_refused(
    behind_proxy, upstream
):
    page, proxy = behind_proxy
    new_chat(page)

    expect(page.locator("body")).to_have_attribute("data-transport", "sse")
    assert proxy.refused >= 3
    reply = ask(page, "hello over events")
    expect(reply.locator(".message-html")).to_have_text("You said: hello over events")
    expect(page.locator("#connection-status")).to_be_hidden()


def test_stop_ends_an_answer_over_server_sent_events(behind_proxy, upstream):
    page, _ = behind_proxy
    new_chat(page)
    reply = send(page, "!tokens 300 !delay 40")
    wait_streaming_with_text(reply)

    page.locator("#stop-button").click()

    expect(reply).to_have_attribute("data-status", "stopped")
    expect(page.locator("#send-button")).to_be_visible()


def test_a_reload_mid_answer_resumes_it_over_server_sent_events(behind_proxy, upstream):
    page, _ = behind_proxy
    reload_mid_reply_shows_the_whole_answer(page)

    expect(page.locator("body")).to_have_attribute("data-transport", "sse")
