"""An upload's import runs in a thread of the server process; its progress is in
the cache (Redis when there are several processes), where the page polls it.

The thread holds the file in memory and writes in one transaction: if the
process dies, nothing of the file is stored and the status ends as "lost" when
its cache entry expires (the page then says so).
"""

import logging
import secrets
import threading

from django.core.cache import cache
from django.db import connections
from django.utils.translation import gettext

from chat.transfer.records import ImportFileError
from chat.transfer.store import import_file

logger = logging.getLogger(__name__)

STATUS_TTL_S = 3600
_threads: dict[str, threading.Thread] = {}


def _key(job_id: str) -> str:
    return f"chat:import:{job_id}"


def status(*, user, job_id: str) -> dict | None:
    """The job's progress, only for the person who started it."""
    found = cache.get(_key(job_id))
    if not found or found["user"] != user.pk:
        return None
    return {k: v for k, v in found.items() if k != "user"}


def _run(job_id: str, user, data: bytes, language: str) -> None:
    from django.utils import translation

    state = {"user": user.pk, "state": "running", "phase": "read", "done": 0}
    state["total"] = 0

    def progress(phase: str, done: int, total: int) -> None:
        state.update(phase=phase, done=done, total=total)
        cache.set(_key(job_id), state, STATUS_TTL_S)

    try:
        with translation.override(language):
            try:
                stored = import_file(user, data, progress)
                state.update(state="done", imported=len(stored))
            except ImportFileError as exc:
                state.update(state="failed", error=str(exc))
            except Exception:
                logger.exception("Import %s failed", job_id)
                state.update(
                    state="failed",
                    error=gettext("The import failed; nothing was imported."),
                )
        cache.set(_key(job_id), state, STATUS_TTL_S)
    finally:
        connections.close_all()  # this thread's own connections
        _threads.pop(job_id, None)


def start(*, user, data: bytes, language: str) -> str:
    job_id = secrets.token_urlsafe(16)
    cache.set(
        _key(job_id),
        {"user": user.pk, "state": "running", "phase": "read", "done": 0, "total": 0},
        STATUS_TTL_S,
    )
    thread = threading.Thread(
        target=_run, args=(job_id, user, data, language), name=f"import-{job_id}"
    )
    _threads[job_id] = thread
    thread.start()
    return job_id


def wait(job_id: str, timeout_s: float | None = None) -> None:
    """Block until a job's thread ends (the tests, and a server shutting down)."""
    thread = _threads.get(job_id)
    if thread is not None:
        thread.join(timeout_s)
