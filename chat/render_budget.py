"""Rendering an answer within a budget: a size cap and a time limit.

Python-Markdown has inputs that take minutes (10,000 nested list items) or raise
RecursionError (deeply nested quotes), and a thread cannot be stopped, only
abandoned while it holds the GIL and stalls every socket of the process. So the
rendering runs in worker processes: past CHAT_RENDER_TIMEOUT_S the worker is
killed and replaced. Workers are forked from a small forkserver that has imported
the renderer (not from this process, with its threads), so a replacement is quick.
Past either limit, or on any failure, the answer is its text in a <pre>.

The event loop renders through `arender_answer`: it waits for the worker's pipe
on the loop itself (an idle worker and a free slot at hand), where a hop to a
thread and back cost the server three times the pipe's own CPU (~120 of ~160 µs a
render; live formatting renders every few tokens: bench/README.md, figure 7b).
"""

import asyncio
import logging
import multiprocessing
import threading
from contextlib import suppress

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils.translation import gettext_noop

from chat.rendering import plain_text_html, render_markdown
from chat.tasks import detached_task

logger = logging.getLogger(__name__)

# Stored in the answer's HTML, in English (a render belongs to no one's browser);
# marked for the catalogs like the stored errors of chat/replies/errors.py.
TOO_LONG_NOTE = gettext_noop(
    "This answer is too long to format; here it is as plain text."
)
TOO_SLOW_NOTE = gettext_noop(
    "This answer could not be formatted in time; here it is as plain text."
)
FAILED_NOTE = gettext_noop(
    "This answer could not be formatted; here it is as plain text."
)

START_TIMEOUT_S = 30

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["chat.rendering"])


def _serve(conn) -> None:
    """A worker: render each text it is sent, until its pipe closes."""
    conn.send(None)  # started: its start-up does not count against a render
    while True:
        try:
            text = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, render_markdown(text)))
        except Exception as exc:  # RecursionError included: report, keep serving
            conn.send((False, f"{type(exc).__name__}: {exc}"[:200]))


class _Worker:
    def __init__(self):
        self.conn, theirs = _context.Pipe()
        self.process = _context.Process(
            target=_serve, args=(theirs,), name="markdown-render", daemon=True
        )
        self.process.start()
        theirs.close()
        if not self.conn.poll(START_TIMEOUT_S):
            self.kill()
            raise RuntimeError("a render worker did not start")
        self.conn.recv()

    def render(self, text: str, timeout_s: float) -> tuple[bool, str]:
        self.conn.send(text)
        if not self.conn.poll(timeout_s):
            raise TimeoutError(f"rendering took over {timeout_s:g} s")
        return self.conn.recv()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.conn.close()


class _Pool:
    """At most CHAT_RENDER_WORKERS workers, started on first use, reused after."""

    def __init__(self):
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.slots: threading.BoundedSemaphore | None = None

    def _slots(self) -> threading.BoundedSemaphore:
        with self.lock:
            if self.slots is None:
                self.slots = threading.BoundedSemaphore(settings.CHAT_RENDER_WORKERS)
            return self.slots

    def render(self, text: str, timeout_s: float) -> str:
        with self._slots():
            with self.lock:
                worker = self.idle.pop() if self.idle else None
            if worker is None or not worker.process.is_alive():
                worker = _Worker()
            try:
                answer = worker.render(text, timeout_s)
            except BaseException:
                _discard(worker)
                raise
            return self.returned(worker, answer)

    def take_idle(self) -> "_Worker | None":
        """An idle, live worker and its slot, without waiting; None if there is
        none at hand. The caller releases the slot (`slots.release()`)."""
        slots = self._slots()
        if not slots.acquire(blocking=False):
            return None
        with self.lock:
            worker = self.idle.pop() if self.idle else None
        if worker is not None and worker.process.is_alive():
            return worker
        slots.release()
        return None

    def returned(self, worker: "_Worker", answer: tuple[bool, str]) -> str:
        """The HTML of a worker's answer, the worker idle again; raises
        RuntimeError when the renderer raised (e.g. RecursionError) in it."""
        with self.lock:
            self.idle.append(worker)
        ok, result = answer
        if not ok:
            raise RuntimeError(result)
        return result


def _discard(worker: "_Worker") -> None:
    """Stuck, dead or out of step with its pipe: never reused."""
    with suppress(Exception):
        worker.kill()


_pool = _Pool()


_renders: set[asyncio.Task] = set()


async def _render_on_loop(worker: _Worker, text: str, timeout_s: float) -> str:
    """`worker.render`, waiting for its answer on the running loop."""
    loop = asyncio.get_running_loop()
    answered = loop.create_future()
    fd = worker.conn.fileno()
    loop.add_reader(fd, lambda: answered.done() or answered.set_result(None))
    try:
        worker.conn.send(text)  # the worker waits in recv: it reads at once
        await asyncio.wait_for(answered, timeout_s)
    finally:
        loop.remove_reader(fd)
    return worker.conn.recv()


def render_answer(text: str) -> str:
    """An answer's HTML: rendered within the budget, else its text as plain text.

    Never raises, so one answer cannot stop whoever renders many (the reaper).
    Blocks its thread: call it off the event loop and off the database thread.
    """
    if len(text) > settings.CHAT_RENDER_MAX_CHARS:
        return plain_text_html(text, TOO_LONG_NOTE)
    try:
        return _pool.render(text, settings.CHAT_RENDER_TIMEOUT_S)
    except Exception as exc:
        return _as_plain_text(text, exc)


def _as_plain_text(text: str, failure: Exception) -> str:
    """The answer as plain text, after its render failed (said in the log)."""
    if isinstance(failure, TimeoutError):
        logger.warning("Rendering an answer of %d characters timed out", len(text))
        return plain_text_html(text, TOO_SLOW_NOTE)
    logger.error(
        "Rendering an answer of %d characters failed", len(text), exc_info=failure
    )
    return plain_text_html(text, FAILED_NOTE)


async def arender_answer(text: str) -> str:
    """`render_answer` from the event loop, which it never blocks for long."""
    worker = None if len(text) > settings.CHAT_RENDER_MAX_CHARS else _pool.take_idle()
    if worker is None:  # too long, or no idle worker: a thread waits for one
        return await sync_to_async(render_answer, thread_sensitive=False)(text)
    # Shielded: a caller that gives up (a live render cut short by the answer's
    # end) leaves the worker to finish and go back to the pool, in step.
    render = detached_task(_render_with(worker, text), name="render")
    _renders.add(render)  # a strong reference: asyncio keeps weak ones
    render.add_done_callback(_renders.discard)
    return await asyncio.shield(render)


async def _render_with(worker: _Worker, text: str) -> str:
    try:
        try:
            answer = await _render_on_loop(worker, text, settings.CHAT_RENDER_TIMEOUT_S)
        except BaseException:
            _discard(worker)
            raise
        return _pool.returned(worker, answer)
    except Exception as exc:
        return _as_plain_text(text, exc)
    finally:
        _pool.slots.release()
