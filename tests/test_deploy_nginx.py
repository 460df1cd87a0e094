"""The shipped nginx site's defences, against a stand-in upstream: request and
connection limits, the private /healthz and /metrics, no version in headers, TLS 1.2
and later.

nginx runs the real site file (substituted as in tests/test_deploy.py); the upstream
is a small HTTP server that answers every request with 200, except websocket
requests, which it holds open the way a live socket is.
"""

import http.server
import re
import socket
import ssl
import threading
import warnings
from ipaddress import ip_network

import pytest

from chat.private import PRIVATE_NETWORKS
from tests.servers import free_port
from tests.test_deploy import (  # noqa: F401 (fixtures)
    SITE_CONF,
    Nginx,
    nginx_bin,
    render_site,
    shipped_upstream_ports,
    tls,
)

SHIPPED = SITE_CONF.read_text()


class StandIn(http.server.ThreadingHTTPServer):
    """Answers 200 "upstream" to everything; holds /ws/ requests until closed,
    and /events after their first event."""

    daemon_threads = True

    def __init__(self):
        self.held = threading.Semaphore(0)
        self.closing = threading.Event()
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.endswith("/events"):
                # An event stream that stays open after its first event, sent
                # without X-Accel-Buffering: only the site file unbuffers it.
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"data: first\n\n")
                self.wfile.flush()
                self.server.closing.wait()
                return
            if self.path.startswith("/ws/"):
                self.server.held.release()
                self.server.closing.wait()
                return
            body = b"upstream"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass


@pytest.fixture(scope="module")
def proxy(nginx_bin, tls, tmp_path_factory):  # noqa: F811
    upstream = StandIn()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    root = tmp_path_factory.mktemp("nginx-limits")
    (root / "static").mkdir()
    https_port = free_port()
    nginx = Nginx(
        nginx_bin,
        root,
        render_site(
            http_port=free_port(),
            https_port=https_port,
            upstream_ports=[upstream.server_port] * len(shipped_upstream_ports()),
            cert=tls["cert"],
            key=tls["key"],
            static_dir=root / "static",
            ipv6=False,
        ),
    )
    nginx.start(https_port)
    try:
        yield {
            "port": https_port,
            "context": tls["context"],
            "cert": tls["cert"],
            "upstream": upstream,
        }
    finally:
        upstream.closing.set()
        nginx.stop()
        upstream.shutdown()
        upstream.server_close()


def request(proxy, path: str, *, source: str = "127.0.0.1", extra: str = ""):
    """One HTTP/1.1 request over TLS; the status and the headers, lower-cased."""
    raw = socket.create_connection(
        ("127.0.0.1", proxy["port"]), timeout=10, source_address=(source, 0)
    )
    with proxy["context"].wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        conn.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
            "Connection: close\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                break
            head += chunk
    status_line, *lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers


def test_a_flood_of_password_forms_from_one_address_gets_429(proxy):
    burst = int(re.search(r"zone=chatsite_login burst=(\d+)", SHIPPED)[1])

    statuses = [request(proxy, "/accounts/login/")[0] for _ in range(burst + 10)]

    # The first request and the burst pass; then the bucket (10 a minute) is dry.
    assert statuses[: burst + 1] == [200] * (burst + 1)
    assert 429 in statuses[burst + 1 :]
    # The three forms share the one budget; the rest of the site is not limited.
    assert request(proxy, "/admin/login/")[0] == 429
    assert request(proxy, "/accounts/signup/")[0] == 429
    assert request(proxy, "/c/1/")[0] == 200


def test_nginx_names_no_version(proxy):
    for path in ["/", "/static/missing.css"]:
        status, headers = request(proxy, path)
        assert headers["server"] == "nginx", (path, status)


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_healthz_and_metrics_answer_this_host_and_not_the_public(proxy, path):
    assert request(proxy, path)[0] == 200
    # 127.0.0.2 is a loopback address too, but not one the site file allows: it
    # stands for any address outside the private ranges.
    assert request(proxy, path, source="127.0.0.2")[0] == 403
    assert request(proxy, "/", source="127.0.0.2")[0] == 200


def test_nginx_allows_the_private_networks_the_site_allows():
    private = re.search(
        r"location ~ \^/\(healthz\|metrics\)\$ \{(.*?)\}", SHIPPED, re.S
    )
    rules = re.findall(r"^\s*(allow|deny) (\S+);", private[1], re.M)
    assert rules[-1] == ("deny", "all")
    assert {rule for rule, _ in rules[:-1]} == {"allow"}
    allowed = [ip_network(network) for _, network in rules[:-1]]
    assert allowed == list(PRIVATE_NETWORKS)


def test_open_websockets_per_address_are_limited(proxy):
    limit = int(re.search(r"limit_conn chatsite_ws (\d+);", SHIPPED)[1])
    upgrade = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    upgrade += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    held = []
    try:
        for _ in range(limit):
            raw = socket.create_connection(("127.0.0.1", proxy["port"]), timeout=10)
            conn = proxy["context"].wrap_socket(raw, server_hostname="127.0.0.1")
            conn.sendall(
                f"GET /ws/chat/1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{upgrade}"
                "Connection: Upgrade\r\n\r\n".encode()
            )
            held.append(conn)
        for _ in range(limit):  # every one reached the upstream and is open
            assert proxy["upstream"].held.acquire(timeout=10)

        assert request(proxy, "/ws/chat/1/", extra=upgrade)[0] == 429
    finally:
        for conn in held:
            conn.close()


def tls_version(proxy, version: ssl.TLSVersion) -> str:
    """The version nginx agrees to when the client offers only `version`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=proxy["cert"])
    # Security level 0, or this OpenSSL would not even offer TLS 1.1.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1 itself
        context.minimum_version = context.maximum_version = version
    raw = socket.create_connection(("127.0.0.1", proxy["port"]), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        return conn.version()


def test_only_tls_1_2_and_1_3_are_accepted(proxy):
    assert tls_version(proxy, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert tls_version(proxy, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    with pytest.raises(ssl.SSLError):
        tls_version(proxy, ssl.TLSVersion.TLSv1_1)


def test_an_event_stream_passes_each_event_at_once_and_may_idle_an_hour(proxy):
    raw = socket.create_connection(("127.0.0.1", proxy["port"]), timeout=10)
    with proxy["context"].wrap_socket(raw, server_hostname="127.0.0.1") as conn:
        conn.sendall(
            b"GET /api/conversations/1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Accept: text/event-stream\r\n\r\n"
        )
        received = b""
        # The upstream holds the stream open: the event arrives only unbuffered.
        while b"data: first" not in received:
            chunk = conn.recv(4096)
            assert chunk, received
            received += chunk

    location = re.search(r"location /api/conversations/ \{(.*?)\}", SHIPPED, re.S)[1]
    assert "proxy_buffering off;" in location
    assert "proxy_read_timeout 1h;" in location
