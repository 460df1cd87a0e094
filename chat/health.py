"""`/healthz`: 200 when the database and the channel layer both answer, else 503."""

import asyncio
import logging
import secrets
import time

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from chat.layers import forget_channel

logger = logging.getLogger(__name__)

# A load balancer polls this; a hung dependency must not hang the check.
TIMEOUT_S = 3.0


@database_sync_to_async
def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _check_channel_layer() -> None:
    """Send a message to a new channel and receive it back: a real round trip."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    channel = await layer.new_channel()
    nonce = secrets.token_hex(8)
    await layer.send(channel, {"type": "health.ping", "nonce": nonce})
    try:
        received = await layer.receive(channel)
    finally:
        await forget_channel(layer, channel)
    if received.get("nonce") != nonce:
        raise RuntimeError("the channel layer answered with another message")


async def _timed(name: str, check) -> dict:
    started = time.monotonic()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await check()
    except Exception as exc:
        logger.warning("Health check of the %s failed: %r", name, exc)
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        return {"ok": False, "error": f"{type(exc).__name__}: {reason}"[:300]}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}


@never_cache
async def healthz(request):
    """Answer 200 if the database and the channel layer work, else 503 with why."""
    database, channel_layer = await asyncio.gather(
        _timed("database", _check_database),
        _timed("channel layer", _check_channel_layer),
    )
    ok = database["ok"] and channel_layer["ok"]
    return JsonResponse(
        {
            "status": "ok" if ok else "fail",
            "checks": {"database": database, "channel_layer": channel_layer},
        },
        status=200 if ok else 503,
    )
