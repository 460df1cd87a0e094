"""Tasks that belong to no request and no socket (a reply's run, its title, the
reaper)."""

import asyncio
import contextvars


def detached_task(coro, *, name: str) -> asyncio.Task:
    """Run `coro` in a context of its own.

    A task copies the context it was made in. Made inside an HTTP request, that
    holds the request's thread-sensitive executor, which Django's ASGI handler
    shuts down when the response ends: a run started by a POST would then fail on
    its first database call. A fresh context uses the process's own executor.
    """
    return asyncio.create_task(coro, name=name, context=contextvars.Context())
