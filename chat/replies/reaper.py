"""The reaper: answers whose process died are marked interrupted.

A live run checkpoints (and so refreshes `heartbeat_at`) every CHAT_CHECKPOINT_S;
an answer still `streaming` with no checkpoint for CHAT_REAP_AFTER_S belongs to a
process that is gone. Every server process reaps periodically, sparing its own
runs; `manage.py reap_replies` does the same from a timer.
"""

import asyncio
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models.functions import Now

from chat import metrics
from chat.models import Message
from chat.render_budget import render_answer
from chat.replies import wire
from chat.replies.errors import INTERRUPTED_ERROR
from chat.replies.run import local_run_ids
from chat.tasks import detached_task

logger = logging.getLogger(__name__)


def _stale(stale_after_s: float | None):
    """Streaming answers with no checkpoint for that long, by the database's clock.

    Runs write `heartbeat_at=Now()` and the cutoff is computed in the same query,
    so servers whose clocks disagree never reap each other's live answers.
    """
    if stale_after_s is None:
        stale_after_s = settings.CHAT_REAP_AFTER_S
    return Message.objects.filter(
        status=Message.Status.STREAMING,
        heartbeat_at__lt=Now() - timedelta(seconds=stale_after_s),
    )


def find_stale(*, stale_after_s: float | None = None, keep=()) -> list[Message]:
    return list(_stale(stale_after_s).exclude(pk__in=list(keep)))


def rendered(message: Message) -> tuple[str, str]:
    """The HTML of a stale answer's checkpointed text and thinking (blocking)."""
    thought = render_answer(message.reasoning) if message.reasoning else ""
    return render_answer(message.content), thought


def mark_reaped(
    message: Message, html: tuple[str, str], stale_after_s: float | None
) -> bool:
    """Store a stale answer as interrupted, unless its run checkpointed since."""
    message.html, message.reasoning_html = html
    message.status = Message.Status.INTERRUPTED
    message.error = INTERRUPTED_ERROR
    updated = (
        _stale(stale_after_s)
        .filter(pk=message.pk)
        .update(
            status=message.status,
            html=message.html,
            reasoning_html=message.reasoning_html,
            error=message.error,
            run_channel="",
        )
    )
    if updated:
        metrics.reaped()
        logger.warning(
            "Reaped reply %s (no checkpoint since %s)", message.pk, message.heartbeat_at
        )
    return bool(updated)


def reap_replies(*, stale_after_s: float | None = None, keep=()) -> list[Message]:
    """Mark streaming answers with no recent checkpoint as interrupted (sync)."""
    return [
        message
        for message in find_stale(stale_after_s=stale_after_s, keep=keep)
        if mark_reaped(message, rendered(message), stale_after_s)
    ]


async def tell_reaped(reaped: list[Message]) -> None:
    """Say `reply.done` for reaped answers to their tabs, on every process."""
    for message in reaped:
        await wire.group_send(message.conversation_id, wire.done_payload(message))


async def areap_replies() -> int:
    """Reap in this process, sparing its own live runs, and tell the sockets.

    Rendering (up to CHAT_RENDER_TIMEOUT_S an answer) happens off the database
    thread, which every consumer of this process shares.
    """
    stale = await database_sync_to_async(find_stale)(keep=local_run_ids())
    reaped = []
    for message in stale:
        html = await sync_to_async(rendered, thread_sensitive=False)(message)
        if await database_sync_to_async(mark_reaped)(message, html, None):
            reaped.append(message)
    await tell_reaped(reaped)
    return len(reaped)


_reaper: asyncio.Task | None = None


def ensure_reaper() -> None:
    """Start this process's periodic reaper once, on the running loop."""
    global _reaper
    loop = asyncio.get_running_loop()
    if _reaper is None or _reaper.done() or _reaper.get_loop() is not loop:
        _reaper = detached_task(_reap_forever(), name="reply-reaper")


async def _reap_forever() -> None:
    while True:
        await asyncio.sleep(settings.CHAT_REAP_INTERVAL_S)
        try:
            await areap_replies()
        except Exception:
            logger.exception("Reaper failed; trying again later")
