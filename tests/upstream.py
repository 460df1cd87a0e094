"""A real HTTP server that speaks OpenAI's Chat Completions protocol, for tests.

``FakeUpstream`` runs ``http.server.ThreadingHTTPServer`` in a background thread
on 127.0.0.1 (a free port unless told otherwise) and answers the real ``openai``
SDK pointed at ``base_url``. Standard library only, so it also runs on its own::

    python -m tests.upstream --port 8765 [--host 127.0.0.1] [--api-key KEY]

which prints its base URL (``http://127.0.0.1:8765/v1``) as the first line on
stdout and serves until SIGINT/SIGTERM.

In a test::

    with FakeUpstream() as upstream:
        upstream.script(text="Hello, world!", delay=0.01)
        client = openai.AsyncOpenAI(base_url=upstream.base_url, api_key="k")
        ...
        assert upstream.wait_for_disconnect(timeout=5)

Endpoints
---------
``POST /v1/chat/completions``
    ``stream: true`` answers ``200 text/event-stream`` with a chunked body (so
    that a stream cut short is a protocol error for the client, not a quiet
    end): a first chunk with ``delta = {"role": "assistant", "content": ""}``,
    one ``chat.completion.chunk`` per token, a chunk with an empty delta and
    ``finish_reason``, then -- only if ``stream_options.include_usage`` -- a
    chunk with ``"choices": []`` and ``usage``, then ``data: [DONE]``. When usage
    was asked for, every other chunk carries ``"usage": null`` as OpenAI's do.
    Without ``stream`` the answer is one ``chat.completion`` JSON object.
    ``max_completion_tokens`` / ``max_tokens`` cut the reply short with
    ``finish_reason: "length"``.
``GET /v1/models``, ``GET /v1/models/<id>``
    The models given to the constructor (``model_listings`` counts the lists).
``GET /health``
    ``ok`` -- for waiting until a subprocess is up.

What it replies
---------------
Each request takes the oldest reply queued with ``script()`` (FIFO, one per
request -- so an SDK retry consumes the next script). A script without
``tokens``/``text`` takes its content from the request as below (directives
included), while its own delay/failure/finish settings apply.

With the queue empty, the reply is derived from the last user message, so that
tests driving the site in another process can steer it. Plain text gets an echo,
``"You said: <text>"``, one token per word (whitespace kept). A message whose
first line starts with directives obeys them; they combine on that line, e.g.
``!tokens 200 !delay 20``:

``!tokens N``   reply ``tok1 tok2 ... tokN``, one token each.
``!emoji N``    reply of N tokens of emoji and other non-BMP text: ZWJ sequences
                (some split across two tokens), flags, skin tones, Fraktur
                "Unicode", CJK, combining marks, mixed with ASCII.
``!text ...``   the rest of the message, verbatim (after one space or newline),
                is the reply -- e.g. hostile markdown/HTML. Must come last.
``!delay MS``   wait MS milliseconds before each token.
``!fail S``     answer HTTP status S (401, 429, 500, 503, ...) with an
                OpenAI-style error body; 429 carries ``retry-after: 0``.
``!drop N``     after N tokens, shut the socket down mid-stream (no [DONE]).
``!stall N``    after N tokens, send nothing more but keep the connection open
                until the client goes away or the server stops.
``!finish R``   finish_reason R (default ``stop``).
``!nousage``    never send the usage chunk.
``!think N``    think first: N tokens ``thought1 ... thoughtN`` in
                ``delta.reasoning_content`` before the content.

Without a content directive (``!tokens``/``!emoji``/``!text``) the reply echoes
the lines after the directive line (``"You said: ..."``) or, if there are none,
is ``tok1 ... tokK`` with K = 20 (or N + 10 for ``!drop N``/``!stall N`` if
larger). An unknown directive ends the directive line; if the message starts
with none known, it is plain text.

Usage counts: prompt tokens are the words in all request messages (unless the
script says ``prompt_tokens``); completion tokens are the tokens sent, thinking
included, which ``completion_tokens_details.reasoning_tokens`` counts.

Thinking
--------
``script(reasoning=[...])`` streams those tokens first, one chunk each, in
``delta.reasoning_content`` (DeepSeek, llama.cpp's server) or, with
``reasoning_field="reasoning"``, in ``delta.reasoning`` (vLLM, OpenRouter).
Models that think inline are scripted with ``<think>…</think>`` in ``tokens``.

Observing the client
--------------------
``requests`` (parsed JSON bodies of chat completion requests) and
``request_headers`` (names lower-cased) and ``request_peers`` (the client's
address: one port, one connection) grow as requests arrive;
``wait_for_requests(n)`` waits for them.
When a write to a stream fails (broken pipe / reset) or the client closes its
end while the server waits between tokens or stalls, that is a client
disconnect: ``disconnects`` is incremented, the ``client_disconnected`` Event
is set and ``wait_for_disconnect(timeout)`` (``await_disconnect`` in async
code) returns True. ``completed_streams``
counts streams that reached [DONE]; ``active_streams`` / ``max_active_streams``
show concurrency.

Authentication: ``FakeUpstream(api_key="sk-...")`` answers 401 to requests
without ``Authorization: Bearer sk-...``. By default any key is accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import re
import select
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["EMOJI_TOKENS", "FakeUpstream", "Script", "split_tokens"]

DEFAULT_MODELS = ("gpt-4o-mini", "fake-model")
# /v1/moderations flags any text containing this word (category "violence").
MODERATION_MARKER = "forbidden-word"

# One entry per token; ZWJ sequences, flags, skin tones, astral letters, CJK
# (including a non-BMP ideograph) and a combining mark, mixed with ASCII. The
# woman-scientist sequence is deliberately split across two tokens.
EMOJI_TOKENS = (
    "Unicode ",
    "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522 ",
    "\U0001f389",
    " party ",
    "\U0001f469\u200d\U0001f4bb",
    " coder, ",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    " family, ",
    "\U0001f1fa\U0001f1f3",
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    " flags ",
    "\U0001f44d\U0001f3fd",
    " math \U0001d7d8\U0001d7d9\U0001d7da ",
    "caf\u00e9 cafe\u0301 ",
    "\u6f22\u5b57\U00020000 ",
    "\U0001f469\u200d",
    "\U0001f52c",
    " \U0001f600 ",
    "ok. ",
)

_TOKEN_RE = re.compile(r"\s+|\S+\s*")
_DIRECTIVE_RE = re.compile(r"[ \t]*!(?P<name>[a-z]+)\b")
_ARG_RE = re.compile(r"[ \t]+(?P<arg>[^\s!]\S*)")
_DISCONNECT_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)

_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: (
        "Incorrect API key provided. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    403: ("You are not allowed to do that.", "permission_error", None),
    404: ("Not found.", "invalid_request_error", "not_found"),
    429: (
        "Rate limit reached for requests. Please try again shortly.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: (
        "The engine is currently overloaded, please try again later.",
        "server_error",
        None,
    ),
}


def split_tokens(text: str) -> list[str]:
    """Split into word tokens that keep their whitespace: ``"".join(...) == text``."""
    return _TOKEN_RE.findall(text)


def count_tokens(tokens: int) -> list[str]:
    return [f"tok{i}" + (" " if i < tokens else "") for i in range(1, tokens + 1)]


def emoji_tokens(n: int) -> list[str]:
    return [EMOJI_TOKENS[i % len(EMOJI_TOKENS)] for i in range(n)]


@dataclass
class Script:
    """One planned reply. ``None`` fields are filled from the request."""

    tokens: list[str] | None = None
    delay: float | None = None
    fail_status: int | None = None
    drop_after: int | None = None
    stall_after: int | None = None
    finish_reason: str | None = None
    usage: bool | None = None
    prompt_tokens: int | None = None
    reasoning: list[str] | None = None
    reasoning_field: str = "reasoning_content"


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _last_user_text(body: dict[str, Any]) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _message_text(message)
    return None


def _count_words(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(len(_message_text(m).split()) for m in messages if isinstance(m, dict))


def _echo(text: str) -> list[str]:
    return split_tokens(f"You said: {text}")


def script_from_message(text: str | None) -> Script:
    """The default reply for a last user message (see the module docstring)."""
    if text is None:
        return Script(tokens=split_tokens("Hello from the fake upstream."))
    first_line_end = text.find("\n")
    if first_line_end < 0:
        first_line_end = len(text)
    script = Script()
    found = False
    pos = 0
    while True:
        match = _DIRECTIVE_RE.match(text, pos, first_line_end)
        if match is None:
            break
        name = match["name"]
        if name == "text":
            rest = text[match.end() :]
            if rest.startswith(("\r\n",)):
                rest = rest[2:]
            elif rest[:1] in (" ", "\n", "\t"):
                rest = rest[1:]
            script.tokens = split_tokens(rest)
            found = True
            break
        if name == "nousage":
            script.usage = False
            found = True
            pos = match.end()
            continue
        arg_match = _ARG_RE.match(text, match.end(), first_line_end)
        if arg_match is None:
            break
        arg = arg_match["arg"]
        if name == "finish":
            script.finish_reason = arg
        else:
            try:
                number = int(arg)
            except ValueError:
                break
            if name == "tokens":
                script.tokens = count_tokens(number)
            elif name == "think":
                script.reasoning = [
                    f"thought{i}" + (" " if i < number else "")
                    for i in range(1, number + 1)
                ]
            elif name == "emoji":
                script.tokens = emoji_tokens(number)
            elif name == "delay":
                script.delay = number / 1000
            elif name == "fail":
                script.fail_status = number
            elif name == "drop":
                script.drop_after = number
            elif name == "stall":
                script.stall_after = number
            else:
                break
        found = True
        pos = arg_match.end()
    if not found:
        return Script(tokens=_echo(text))
    if script.tokens is None:
        rest = text[first_line_end + 1 :]
        if rest.strip():
            script.tokens = _echo(rest)
        else:
            cut = max(script.drop_after or 0, script.stall_after or 0)
            script.tokens = count_tokens(max(20, cut + 10))
    return script


def _error_body(status: int, message: str | None = None) -> dict[str, Any]:
    default_message, kind, code = _ERRORS.get(
        status, (f"Upstream error {status}.", "server_error", None)
    )
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": None,
            "code": code,
        }
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    upstream: FakeUpstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client going away is not news
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeUpstream/1.0"
    server: _Server

    # -- plumbing ---------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.upstream = self.server.upstream
        self.upstream._register(self.connection)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.upstream._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error_json(self, status: int, message: str | None = None) -> None:
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}"}
        if status == 429:
            headers["retry-after"] = "0"
            headers["retry-after-ms"] = "0"
        self._send_json(status, _error_body(status, message), headers)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        key = self.upstream.api_key
        if key is None:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {key}"

    def _peer_gone(self) -> bool:
        """Whether the client closed its end (checked without consuming data)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _pause(self, seconds: float) -> bool:
        """Wait; False (and a recorded disconnect) if the client left or we stop."""
        upstream = self.upstream
        deadline = time.monotonic() + seconds
        while True:
            if upstream._stopping.is_set():
                return False
            if self._peer_gone():
                if not upstream._stopping.is_set():
                    upstream._record_disconnect()
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            try:
                readable, _, _ = select.select(
                    [self.connection], [], [], min(remaining, 0.05)
                )
            except (OSError, ValueError):
                readable = [self.connection]
            if readable and not self._peer_gone():
                # Data is waiting (a pipelined request?): don't spin on it.
                upstream._stopping.wait(min(remaining, 0.02))

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            return True
        except (*_DISCONNECT_ERRORS, OSError):
            if not self.upstream._stopping.is_set():
                self.upstream._record_disconnect()
            self.close_connection = True
            return False

    def _drop(self) -> None:
        """Cut the connection mid-body: the client sees a truncated message."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stall(self) -> None:
        self.close_connection = True
        while self._pause(3600):
            pass

    # -- routes -----------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            data = b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if not self._authorized():
            self._send_error_json(401)
            return
        models = [
            {"id": name, "object": "model", "created": 0, "owned_by": "fake-upstream"}
            for name in self.upstream.models
        ]
        if path == "/v1/models":
            with self.upstream._lock:
                self.upstream.model_listings += 1
            self._send_json(200, {"object": "list", "data": models})
            return
        if path.startswith("/v1/models/"):
            name = path[len("/v1/models/") :]
            for model in models:
                if model["id"] == name:
                    self._send_json(200, model)
                    return
            self._send_error_json(404, f"The model '{name}' does not exist")
            return
        self._send_error_json(404, f"Unknown path {path}")

    def do_POST(self) -> None:
        raw = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/moderations":
            self._moderate(raw)
            return
        if path != "/v1/chat/completions":
            self._send_error_json(404, f"Unknown path {path}")
            return
        if not self._authorized():
            self._send_error_json(401)
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_error_json(400, "We could not parse the JSON body.")
            return
        upstream = self.upstream
        headers = {name.lower(): value for name, value in self.headers.items()}
        upstream._record_request(body, headers, self.client_address[:2])
        plan = upstream._plan_for(body)
        if plan.fail_status is not None:
            self._send_error_json(plan.fail_status)
            return
        if body.get("stream"):
            upstream._stream_started()
            try:
                self._stream(body, plan)
            finally:
                upstream._stream_ended()
        else:
            self._complete(body, plan)

    def _moderate(self, raw: bytes) -> None:
        """Flag any input containing MODERATION_MARKER, as category "violence"."""
        body = json.loads(raw or b"{}")
        inputs = body.get("input", "")
        self.upstream.moderation_inputs.append(inputs)
        results = []
        for text in inputs if isinstance(inputs, list) else [inputs]:
            flagged = MODERATION_MARKER in str(text)
            categories = {name: False for name in ("harassment", "hate", "violence")}
            categories["violence"] = flagged
            scores = {name: (0.99 if hit else 0.01) for name, hit in categories.items()}
            results.append(
                {
                    "flagged": flagged,
                    "categories": categories,
                    "category_scores": scores,
                }
            )
        self._send_json(
            200,
            {"id": "modr-test", "model": body.get("model", "test"), "results": results},
        )

    # -- replies ----------------------------------------------------------

    def _reply_shape(self, body: dict[str, Any], plan: Script) -> tuple[list, str]:
        tokens = list(plan.tokens or [])
        finish = plan.finish_reason or "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens = tokens[:limit]
            finish = "length"
        return tokens, finish

    def _usage(
        self, body: dict[str, Any], plan: Script, sent: int, thought: int = 0
    ) -> dict:
        prompt = plan.prompt_tokens
        if prompt is None:
            prompt = _count_words(body)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": sent + thought,
            "total_tokens": prompt + sent + thought,
        }
        if thought:
            usage["completion_tokens_details"] = {"reasoning_tokens": thought}
        return usage

    def _stream(self, body: dict[str, Any], plan: Script) -> None:
        tokens, finish = self._reply_shape(body, plan)
        options = body.get("stream_options") or {}
        include_usage = bool(options.get("include_usage")) and plan.usage is not False
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or self.upstream.models[0],
            "system_fingerprint": "fp_fake",
        }

        def event(choices: list, **extra: Any) -> bytes:
            chunk = {**base, "choices": choices, **extra}
            if include_usage and "usage" not in chunk:
                chunk["usage"] = None
            data = b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n"
            return b"%x\r\n%s\r\n" % (len(data), data)

        def choice(delta: dict, finish_reason: str | None = None) -> list:
            return [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ]

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        if plan.drop_after is not None or plan.stall_after is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if not self._write(event(choice({"role": "assistant", "content": ""}))):
            return

        delay = plan.delay or 0.0
        thought = 0
        for token in plan.reasoning or ():
            if delay and not self._pause(delay):
                self.close_connection = True
                return
            if not self._write(event(choice({plan.reasoning_field: token}))):
                return
            thought += 1
        sent = 0
        for token in tokens:
            if sent == plan.drop_after:
                self._drop()
                return
            if sent == plan.stall_after:
                self._stall()
                return
            if delay and not self._pause(delay):
                self.close_connection = True
                return
            if self.upstream._stopping.is_set():
                self.close_connection = True
                return
            if not self._write(event(choice({"content": token}))):
                return
            sent += 1
        if plan.drop_after is not None and sent >= plan.drop_after:
            self._drop()
            return
        if plan.stall_after is not None and sent >= plan.stall_after:
            self._stall()
            return

        tail = event(choice({}, finish))
        if include_usage:
            tail += event([], usage=self._usage(body, plan, sent, thought))
        done = b"data: [DONE]\n\n"
        tail += b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)
        if self._write(tail):
            self.upstream._stream_completed()

    def _complete(self, body: dict[str, Any], plan: Script) -> None:
        tokens, finish = self._reply_shape(body, plan)
        cut = plan.drop_after if plan.drop_after is not None else plan.stall_after
        delay = plan.delay or 0.0
        for _ in tokens[:cut] if cut is not None else tokens:
            if delay and not self._pause(delay):
                self.close_connection = True
                return
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.upstream.models[0],
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(tokens),
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": self._usage(body, plan, len(tokens)),
        }
        if cut is None:
            self._send_json(200, payload)
            return
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if plan.drop_after is not None:
            if self._write(data[: len(data) // 2]):
                self._drop()
        else:
            self._stall()


class FakeUpstream:
    """An OpenAI-compatible chat completions server in a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
    ) -> None:
        self.api_key = api_key
        self.models = tuple(models)
        self.requests: list[dict[str, Any]] = []
        self.moderation_inputs: list[Any] = []
        self.model_listings = 0  # GET /v1/models requests
        self.request_headers: list[dict[str, str]] = []
        self.request_peers: list[tuple[str, int]] = []
        self.disconnects = 0
        self.completed_streams = 0
        self.active_streams = 0
        self.max_active_streams = 0
        self.client_disconnected = threading.Event()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._scripts: collections.deque[Script] = collections.deque()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._server = _Server((host, port), _Handler)
        self._server.upstream = self
        self.host, self.port = self._server.server_address[:2]

    # -- lifecycle --------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeUpstream:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, cut open connections and wait briefly for handlers."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout)
        self._server.server_close()
        with self._lock:
            connections = dict(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in connections.values():
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting --------------------------------------------------------

    def script(
        self,
        tokens: list[str] | None = None,
        *,
        text: str | None = None,
        delay: float = 0.0,
        fail_status: int | None = None,
        drop_after: int | None = None,
        stall_after: int | None = None,
        finish_reason: str = "stop",
        usage: bool = True,
        prompt_tokens: int | None = None,
        reasoning: list[str] | None = None,
        reasoning_field: str = "reasoning_content",
    ) -> Script:
        """Queue the reply to the next request (FIFO, one script per request).

        ``tokens`` are sent one per chunk; ``text`` is split into word tokens
        that join back to it exactly. With neither, the content comes from the
        request as if unscripted (directives included), while this script's
        delay/failure settings still apply.
        """
        if tokens is not None and text is not None:
            raise ValueError("give tokens or text, not both")
        if text is not None:
            tokens = split_tokens(text)
        planned = Script(
            tokens=list(tokens) if tokens is not None else None,
            delay=delay,
            fail_status=fail_status,
            drop_after=drop_after,
            stall_after=stall_after,
            finish_reason=finish_reason,
            usage=usage,
            prompt_tokens=prompt_tokens,
            reasoning=list(reasoning) if reasoning is not None else None,
            reasoning_field=reasoning_field,
        )
        with self._lock:
            self._scripts.append(planned)
        return planned

    @property
    def pending_scripts(self) -> int:
        with self._lock:
            return len(self._scripts)

    def reset(self) -> None:
        """Forget scripts, recorded requests and disconnects."""
        with self._lock:
            self._scripts.clear()
            self.requests.clear()
            self.moderation_inputs.clear()
            self.model_listings = 0
            self.request_headers.clear()
            self.request_peers.clear()
            self.disconnects = 0
            self.completed_streams = 0
            self.max_active_streams = self.active_streams
            self.client_disconnected.clear()

    def _plan_for(self, body: dict[str, Any]) -> Script:
        with self._lock:
            scripted = self._scripts.popleft() if self._scripts else None
        derived = script_from_message(_last_user_text(body))
        if scripted is None:
            return derived
        if scripted.tokens is None:
            scripted.tokens = derived.tokens
        if scripted.reasoning is None:
            scripted.reasoning = derived.reasoning
        return scripted

    # -- observation ------------------------------------------------------

    def wait_for_disconnect(self, timeout: float = 5.0, count: int = 1) -> bool:
        """Wait until ``count`` client disconnects in all were seen."""
        with self._changed:
            return self._changed.wait_for(lambda: self.disconnects >= count, timeout)

    async def await_disconnect(
        self,
        timeout: float = 5.0,
        count: int = 1,
    ) -> bool:
        """``wait_for_disconnect`` for async tests, without blocking the loop."""
        return await asyncio.to_thread(self.wait_for_disconnect, timeout, count)

    def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``count`` chat completion requests in all arrived."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.requests) >= count, timeout)

    def _record_request(
        self, body: dict[str, Any], headers: dict[str, str], peer: tuple[str, int]
    ) -> None:
        with self._changed:
            self.requests.append(body)
            self.request_headers.append(headers)
            self.request_peers.append(peer)
            self._changed.notify_all()

    def _record_disconnect(self) -> None:
        with self._changed:
            self.disconnects += 1
            self.client_disconnected.set()
            self._changed.notify_all()

    def _stream_started(self) -> None:
        with self._lock:
            self.active_streams += 1
            self.max_active_streams = max(self.max_active_streams, self.active_streams)

    def _stream_ended(self) -> None:
        with self._lock:
            self.active_streams -= 1

    def _stream_completed(self) -> None:
        with self._changed:
            self.completed_streams += 1
            self._changed.notify_all()

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections[conn] = threading.current_thread()
        if self._stopping.is_set():
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.pop(conn, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--model", action="append", dest="models")
    args = parser.parse_args(argv)
    upstream = FakeUpstream(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        models=tuple(args.models or DEFAULT_MODELS),
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    upstream.start()
    print(upstream.base_url, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
