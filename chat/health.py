"""`/healthz`: 200 when the database and the channel layer both answer, else 503.

The answer names each check and says "ok" or "fail", nothing more: why a check
failed (an exception's text can carry hosts, ports or SQL) goes to the log only.
Only this host and private networks may ask (chat/private.py).
"""

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
from chat.private import private_only

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


async def _check(name: str, check) -> str:
    started = time.monotonic()
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await check()
    except Exception:
        logger.warning(
            "Health check of the %s failed after %.1f s",
            name,
            time.monotonic() - started,
            exc_info=True,
        )
        return "fail"
    return "ok"


@never_cache
@private_only
async def healthz(request):
    """Answer 200 if the database and the channel layer work, else 503 with which."""
    database, channel_layer = await asyncio.gather(
        _check("database", _check_database),
        _check("channel layer", _check_channel_layer),
    )
    checks = {"database": database, "channel_layer": channel_layer}
    ok = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "fail", "checks": checks},
        status=200 if ok else 503,
    )
