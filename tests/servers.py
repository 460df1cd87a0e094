"""Real server processes of the site, and websocket clients for them.

The multi-process, deployment and browser tests all run the site as server
subprocesses; this is the one place that starts, waits on and stops them.
"""

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect as ws_connect

from chat.offsets import apply_delta, apply_snapshot, has_gap

BASE_DIR = Path(__file__).resolve().parent.parent


def site_env(*, upstream_url: str, **settings) -> dict:
    """The environment of a server process: production settings over plain HTTP,
    the test upstream as the model, then `settings` (values made strings)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "STATIC_MANIFEST": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHAT_PROVIDER": "openai",
        "OPENAI_API_KEY": "x",
        "OPENAI_BASE_URL": upstream_url,
        "CHAT_MODEL": "test-model",
        "CHAT_MAX_RETRIES": "0",
        "CHAT_MODEL_TITLES": "false",
        "LOG_LEVEL": "WARNING",
        # With it, REDIS_URL's hosts name Sentinel masters: the two go together.
        "REDIS_SENTINELS": os.environ.get("REDIS_SENTINELS", ""),
    }
    env.update({name: str(value) for name, value in settings.items()})
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    """Run a manage.py command with a server's environment; return its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        pytest.fail(f"manage.py {args[0]} failed:\n{result.stderr}", pytrace=False)
    return result.stdout


class SiteServer:
    """One server process of the site (chatsite.serve), restartable on its port."""

    def __init__(self, name: str, env: dict, log_dir: Path, port: int | None = None):
        self.name = name
        self.env = env
        self.log = log_dir / f"{name}.log"
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "chatsite.serve", "--port", str(self.port)]

    def start(self) -> None:
        """Start the process; `wait_healthy` waits until it serves."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv(),
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                pytest.fail(f"server {self.name} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)  # polling a starting process: there is no event to await
        pytest.fail(f"server {self.name} never became healthy:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no final checkpoint, like a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)

    @contextlib.contextmanager
    def stopped(self):
        """SIGSTOP the process for the block: it reads nothing meanwhile, neither
        its sockets nor Redis, as a process stalled by the machine would."""
        pid = self.process.pid
        os.kill(pid, signal.SIGSTOP)
        os.waitpid(pid, os.WUNTRACED)  # returns once it has stopped
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def two_servers(env: dict, log_dir: Path):
    """Two server processes "a" and "b" on `env`, healthy, stopped afterwards."""
    pair = [SiteServer("a", env, log_dir), SiteServer("b", env, log_dir)]
    try:
        for server in pair:
            server.start()
        for server in pair:
            server.wait_healthy()
        yield pair
    finally:
        for server in pair:
            server.stop()


def session_cookie(user, client=None) -> str:
    """Log a user in (or take a logged-in test client's session) and return the
    Cookie header value a browser would send."""
    from django.conf import settings
    from django.test import Client

    if client is None:
        client = Client()
        client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


class Tab:
    """A browser tab's websocket on one server, applying replies by offset."""

    def __init__(self, ws):
        self.ws = ws
        self.events: list[dict] = []
        self.texts: dict[int, str] = {}
        self.resyncs = 0
        self.deltas_to_lose = 0  # pretend the layer drops the next N deltas

    @classmethod
    async def open(
        cls, base_url: str, user, conversation_id: int, cookie=None, **options
    ) -> "Tab":
        """Connect to `base_url` (http or https) as this user (or this cookie)."""
        cookie = cookie or await sync_to_async(session_cookie)(user)
        scheme = "wss" if base_url.startswith("https") else "ws"
        host = base_url.split("://", 1)[1]
        ws = await ws_connect(
            f"{scheme}://{host}/ws/chat/{conversation_id}/",
            origin=base_url,
            additional_headers={"Cookie": cookie},
            max_queue=None,
            open_timeout=10,
            **options,
        )
        return cls(ws)

    async def send(self, **payload) -> None:
        await self.ws.send(json.dumps(payload))

    async def joined(self) -> None:
        """Wait until the server has joined this socket to its conversation's group.

        The server accepts a socket before it joins it (it looks the conversation
        up in between), and handles the socket's requests only once connected: so
        the answer to a request shows it has joined, and will hear every event.
        """
        await self.send(type="tests.joined")
        await self.until("error", code="unknown_type")
        self.events.pop()  # the probe's answer, not part of the conversation

    async def receive(self, timeout: float = 10) -> dict:
        event = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.events.append(event)
        await self._apply(event)
        return event

    async def _apply(self, event: dict) -> None:
        message_id = event.get("message_id")
        text = self.texts.get(message_id, "")
        kind = event["type"]
        gap = False
        if kind == "reply.snapshot":
            self.texts[message_id] = apply_snapshot(text, event["text"])
        elif kind == "reply.delta" and self.deltas_to_lose:
            self.deltas_to_lose -= 1
        elif kind == "reply.delta":
            self.texts[message_id], gap = apply_delta(
                text, event["offset"], event["text"]
            )
        elif kind == "reply.heartbeat":
            gap = has_gap(text, event["offset"])
        if gap:
            # As the browser does: a hole in the offsets asks for a fresh snapshot.
            self.resyncs += 1
            await self.send(type="resync", message_id=message_id)

    async def until(self, kind: str, timeout: float = 10, **match) -> dict:
        """Read events up to the first of this type (and these fields)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.receive(timeout)
                if event["type"] == kind and all(
                    event.get(k) == v for k, v in match.items()
                ):
                    return event

    async def first(self, kind: str, timeout: float = 10, **match) -> dict:
        """The first event of this type (and fields) this tab got, already or next:
        a snapshot may come before the answer to `joined`'s probe."""
        for event in self.events:
            if event["type"] == kind and all(
                event.get(k) == v for k, v in match.items()
            ):
                return event
        return await self.until(kind, timeout, **match)

    def text(self, message_id: int) -> str:
        return self.texts.get(message_id, "")

    async def close(self) -> None:
        await self.ws.close()


def full_text(tokens: int) -> str:
    """The test upstream's answer to `!tokens N`."""
    return "".join(
        f"tok{i}" + (" " if i < tokens else "") for i in range(1, tokens + 1)
    )
