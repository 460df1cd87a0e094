"""Transactions that need not wait their turn on the one database thread.

Channels' `database_sync_to_async` runs every call of a process on one thread, so
a burst of sends (50 people pressing Enter at once) queues there, each transaction
waiting for the ones before it to finish their round trips to the server.
On PostgreSQL every connection is a server process of its own and the row locks
and unique constraints already decide between concurrent transactions, so
`parallel` runs such calls on a few threads, each with its own persistent
connection. On SQLite the writers would only take turns at the file's write lock
(and sleep in its busy handler while waiting), so calls stay on the shared thread.

Django treats each call handed to a database thread as a request: it checks the
connection before (its age, its errors) and, with CONN_HEALTH_CHECKS, sends a
`SELECT 1` at the call's first query. Under a burst a pool thread makes a call
every few milliseconds, and that round trip was one in six of a turn's; so a pool
thread checks its connection at most once every `CHECK_EVERY_S`, before any call
after a pause that long, and after a call that failed in the database.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import AsyncToSync, SyncToAsync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, connections

CHECK_EVERY_S = 1.0

logger = logging.getLogger(__name__)

_lock = threading.Lock()
# One single-thread executor per connection: each can be asked to close its own.
_pool: list["_Thread"] = []


def parallel(func):
    """`database_sync_to_async(func)`, on a thread of the pool on PostgreSQL.

    Called under `async_to_sync` (a sync caller waiting), the call stays on the
    caller's thread as thread-sensitive calls do: it sees the caller's
    transaction, and a test counting the caller's queries counts it.
    """
    if (
        connection.vendor != "postgresql"
        or settings.CHAT_DATABASE_THREADS < 1
        or getattr(AsyncToSync.executors, "current", None) is not None
    ):
        return database_sync_to_async(func)

    def checked(*args, **kwargs):
        return _with_checked_connection(func, *args, **kwargs)

    async def call(*args, **kwargs):
        thread = _least_busy()
        try:
            return await SyncToAsync(
                checked, thread_sensitive=False, executor=thread.executor
            )(*args, **kwargs)
        finally:
            with _lock:
                thread.busy -= 1

    return call


_checked = threading.local()


def _with_checked_connection(func, *args, **kwargs):
    """Run `func` on a pool thread, its connection checked as Django checks a
    request's, but at most once every CHECK_EVERY_S (see the module's docstring)."""
    now = time.monotonic()
    if now - getattr(_checked, "at", -CHECK_EVERY_S) >= CHECK_EVERY_S:
        close_old_connections()  # too old, or broken: closed; else checked at use
        _checked.at = now
    try:
        return func(*args, **kwargs)
    except DatabaseError:
        close_old_connections()  # the connection may be broken: not kept as is
        _checked.at = -CHECK_EVERY_S  # and the next call checks again
        raise


class _Thread:
    """One thread of the pool: its executor, and the calls given to it."""

    def __init__(self):
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="database")
        self.busy = 0


def _least_busy() -> _Thread:
    with _lock:
        if not _pool:
            # The whole pool at the first call, and the other threads open their
            # connections now, in the background: a burst of sends after a start
            # otherwise waited for new connections (and PostgreSQL's new server
            # processes) in the middle of it (bench/README.md, figure 4pg).
            _pool.extend(_Thread() for _ in range(settings.CHAT_DATABASE_THREADS))
            for thread in _pool[1:]:
                thread.executor.submit(_connect)
        thread = min(_pool, key=lambda thread: thread.busy)
        thread.busy += 1
        return thread


def _connect() -> None:
    try:
        connection.ensure_connection()
    except Exception:
        # The thread's first call connects, and reports the failure, again.
        logger.warning("A database thread could not connect yet", exc_info=True)


def close_connections() -> None:
    """Close the pool threads' connections and let the threads go (tests: before
    the database is dropped); the next call starts the pool anew."""
    with _lock:
        threads, _pool[:] = list(_pool), []
    for thread in threads:
        thread.executor.submit(connections.close_all).result()
        thread.executor.shutdown(wait=False)  # after the calls it was given
