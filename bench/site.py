"""The site under test: a scratch database and real ASGI server processes.

`python -m chatsite.serve` by default; daphne or plain uvicorn with `--server` (see
`server_command`). The database is a scratch SQLite file, or for the PostgreSQL
figures a scratch PostgreSQL database the bench creates (`create_postgres`).

The bench process sets Django up against the same databases (same environment), so
it can create users, conversations and sessions, and read back what was stored;
`use_database` says which one its ORM calls go to.
"""

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Which ASGI server runs the site (bench.run --server / --server-args): "site" is
# what the site ships (python -m chatsite.serve), the others are for comparison.
SERVER = "site"
SERVER_ARGS: list[str] = []
# uvicorn's own defaults pick uvloop/httptools when installed and offer
# permessage-deflate; the bench pins its choices so a run says what it measured
# (daphne does not negotiate compression). --server-args overrides any of them.
UVICORN_DEFAULTS = [
    "--ws",
    "websockets",
    "--loop",
    "asyncio",
    "--http",
    "h11",
    "--ws-per-message-deflate",
    "false",
    "--lifespan",
    "off",
    "--log-level",
    "warning",
]


def server_command(port: int) -> list[str]:
    if SERVER == "site":
        return [sys.executable, "-m", "chatsite.serve", "--port", str(port)]
    if SERVER == "daphne":
        command = [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
        return [*command, *SERVER_ARGS, "chatsite.asgi:application"]
    if SERVER == "uvicorn":
        command = [sys.executable, "-m", "uvicorn", "chatsite.asgi:application"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        return [*command, *UVICORN_DEFAULTS, *SERVER_ARGS]
    raise ValueError(f"unknown server {SERVER!r}")


def server_label() -> str:
    return " ".join([SERVER, *SERVER_ARGS])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_env(
    *,
    db_path: str = "",
    database_url: str = "",
    upstream_url: str,
    extra: dict | None = None,
) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CHAT_", "REDIS_", "CHANNEL_LAYER", "DATABASE_"))
    }
    env.update(
        {
            "SECRET_KEY": "bench-secret-key-not-for-production",
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "STATIC_MANIFEST": "false",
            "CHAT_PROVIDER": "openai",
            "OPENAI_API_KEY": "x",
            "OPENAI_BASE_URL": upstream_url,
            "CHAT_MODEL": "bench",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": database_url or f"sqlite:///{db_path}",
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # One bench user sends far more than a person may: limits off.
            "CHAT_MESSAGES_PER_MINUTE": "0",
            "CHAT_CONCURRENT_STREAMS": "0",
            "CHAT_DAILY_TOKEN_QUOTA": "0",
        }
    )
    env.update(extra or {})
    return env


def migrate(env: dict) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def cpu_seconds(pid: int) -> float:
    """The CPU time of a process: the sum of its threads' run time, in nanoseconds
    (`/proc/<pid>/task/*/schedstat`). The process's utime + stime count whole
    clock ticks (10 ms): figure 7's bare relay uses ~18 of them in a round, and a
    tick more or less moved its figure by 6 %. A thread that exits takes its run
    time with it, so a process whose threads come and go is read from its ticks
    (`cpu_ticks_seconds`); the servers' threads (database, render and loop
    threads) live as long as the process."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # the thread ended meanwhile
    return total / 1e9


def cpu_ticks_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads included (exited ones too)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    # Fields 14 and 15 of proc(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Server:
    """One ASGI server process (daphne or uvicorn, see SERVER) on 127.0.0.1."""

    def __init__(self, env: dict, log_path: Path):
        self.port = free_port()
        self.log = open(log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            server_command(self.port),
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{SERVER} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                    s.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{SERVER} did not start in time")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_mb(self) -> float:
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_SIZE / 2**20

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


Daphne = Server  # the old name


def create_postgres(url: str) -> None:
    """(Re)create the scratch PostgreSQL database of `url`, empty."""
    import psycopg
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    maintenance = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# The alias the bench process's ORM calls use (see DatabaseRouter).
DATABASE = "default"


def use_database(alias: str) -> None:
    global DATABASE
    DATABASE = alias


class DatabaseRouter:
    """Send every ORM call of the bench process to `DATABASE`: the figures on
    PostgreSQL make their users, sessions and conversations where their server
    reads them."""

    def db_for_read(self, model, **hints):
        return DATABASE

    def db_for_write(self, model, **hints):
        return DATABASE

    def allow_relation(self, obj1, obj2, **hints):
        return True


def setup_django(env: dict, databases: dict[str, str] | None = None) -> None:
    """Point this process's Django at the bench database (before any model import).

    `databases` adds aliases (alias -> DATABASE_URL) for `use_database`.
    """
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
    os.environ["LOG_LEVEL"] = "WARNING"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import dj_database_url
    import django
    from django.conf import settings

    for alias, url in (databases or {}).items():
        settings.DATABASES[alias] = dj_database_url.parse(url)
    settings.DATABASE_ROUTERS = [f"{__name__}.DatabaseRouter"]
    django.setup()


def make_user(username: str):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username)
    return user


def session_cookie(user) -> str:
    from django.conf import settings
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def make_conversations(user, count: int) -> list[int]:
    from chat.models import Conversation

    made = Conversation.objects.bulk_create(
        [Conversation(user=user, title=f"bench {i}") for i in range(count)]
    )
    return [c.pk for c in made]


def stored_texts(message_ids: list[int]) -> dict[int, tuple[str, str]]:
    """message id -> (status, content) as stored."""
    from chat.models import Message

    rows = Message.objects.filter(pk__in=message_ids).values_list(
        "pk", "status", "content"
    )
    return {pk: (status, content) for pk, status, content in rows}


def make_long_conversation(user, messages: int) -> int:
    """A conversation of `messages` stored messages, half answers with rendered HTML."""
    from chat.models import Conversation, Message
    from chat.rendering import render_markdown

    answer = (
        "Here is **a** typical answer, with a list:\n\n- one\n- two\n- three\n\n"
        "```python\ndef f(x):\n    return [i * i for i in range(x)]\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n" + "Some prose to read. " * 20
    )
    html = render_markdown(answer)
    conversation = Conversation.objects.create(user=user, title="long")
    rows = []
    for i in range(messages):
        if i % 2 == 0:
            rows.append(
                Message(
                    conversation=conversation,
                    role=Message.Role.USER,
                    content=f"Question number {i}: how does this work?",
                    status=Message.Status.COMPLETE,
                )
            )
        else:
            rows.append(
                Message(
                    conversation=conversation,
                    role=Message.Role.ASSISTANT,
                    content=answer,
                    html=html,
                    status=Message.Status.COMPLETE,
                    model="bench",
                )
            )
    rows = Message.objects.bulk_create(rows)
    # One branch: each message follows the one before it.
    for previous, message in itertools.pairwise(rows):
        message.parent_id = previous.pk
    Message.objects.bulk_update(rows[1:], ["parent"], batch_size=500)
    conversation.current_leaf = rows[-1]
    conversation.save(update_fields=["current_leaf"])
    return conversation.pk
