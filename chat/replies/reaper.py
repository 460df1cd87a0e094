"""The reaper: answers whose process died are marked interrupted.

A live run checkpoints (and so refreshes `heartbeat_at`) every CHAT_CHECKPOINT_S;
an answer still `streaming` with no checkpoint for CHAT_REAP_AFTER_S belongs to a
process that is gone. Every server process reaps periodically, sparing its own
runs; `manage.py reap_replies` does the same from a timer.
"""

import asyncio
import logging
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chat.models import Message
from chat.rendering import render_markdown
from chat.replies import wire
from chat.replies.errors import INTERRUPTED_ERROR
from chat.replies.run import local_run_ids

logger = logging.getLogger(__name__)


def reap_replies(*, stale_after_s: float | None = None, keep=()) -> list[Message]:
    """Mark streaming answers with no recent checkpoint as interrupted."""
    if stale_after_s is None:
        stale_after_s = settings.CHAT_REAP_AFTER_S
    cutoff = timezone.now() - timedelta(seconds=stale_after_s)
    stale = Message.objects.filter(
        status=Message.Status.STREAMING, heartbeat_at__lt=cutoff
    ).exclude(pk__in=list(keep))
    reaped = []
    for message in stale:
        message.html = render_markdown(message.content)
        message.status = Message.Status.INTERRUPTED
        message.error = INTERRUPTED_ERROR
        updated = Message.objects.filter(
            pk=message.pk, status=Message.Status.STREAMING, heartbeat_at__lt=cutoff
        ).update(
            status=message.status,
            html=message.html,
            error=message.error,
            run_channel="",
        )
        if updated:
            reaped.append(message)
            logger.warning(
                "Reaped reply %s (no checkpoint since %s)",
                message.pk,
                message.heartbeat_at,
            )
    return reaped


async def tell_reaped(reaped: list[Message]) -> None:
    """Say `reply.done` for reaped answers to their tabs, on every process."""
    for message in reaped:
        await wire.group_send(message.conversation_id, wire.done_payload(message))


async def areap_replies() -> int:
    """Reap in this process, sparing its own live runs, and tell the sockets."""
    reaped = await database_sync_to_async(reap_replies)(keep=local_run_ids())
    await tell_reaped(reaped)
    return len(reaped)


_reaper: asyncio.Task | None = None


def ensure_reaper() -> None:
    """Start this process's periodic reaper once, on the running loop."""
    global _reaper
    loop = asyncio.get_running_loop()
    if _reaper is None or _reaper.done() or _reaper.get_loop() is not loop:
        _reaper = asyncio.create_task(_reap_forever(), name="reply-reaper")


async def _reap_forever() -> None:
    while True:
        await asyncio.sleep(settings.CHAT_REAP_INTERVAL_S)
        try:
            await areap_replies()
        except Exception:
            logger.exception("Reaper failed; trying again later")
