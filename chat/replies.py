"""The one place a reply is run: start, stream, stop, snapshot, finish, and reap.

A reply is an asyncio task owned by no socket. It streams the provider's deltas to the
conversation's group with their character offsets, checkpoints its text, and at the
end renders and stores the answer in one UPDATE before it says `reply.done`. Sockets
reach it through its own channel (stop, snapshot), so this works across processes.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from chat.layers import forget_channel
from chat.models import Conversation, Flag, Message, group_name_for
from chat.moderation import get_moderator, moderate
from chat.providers import (
    Finish,
    ProviderError,
    Queued,
    TextDelta,
    Usage,
    get_provider,
)
from chat.rendering import render_markdown

logger = logging.getLogger(__name__)

# Strong references: asyncio keeps only weak ones, and a run belongs to no socket.
_runs: dict[int, "ReplyRun"] = {}

INTERRUPTED_ERROR = (
    "The server running this answer stopped. The text up to its last checkpoint is "
    "kept; you can regenerate it."
)
UNEXPECTED_ERROR = "Something went wrong while answering. Try again."
WITHHELD_ERROR = "Moderation stopped this answer ({}). It is kept for review."


class ReplyError(Exception):
    """A request about replies that cannot be done; `code` goes on the wire."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# Frames: every event a socket forwards is encoded once, by whoever sends it.


def frame(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def frame_event(payload: dict) -> dict:
    """Wrap a wire payload as a channel-layer event that consumers forward verbatim."""
    return {"type": "chat.frame", "frame": frame(payload)}


def done_payload(message: Message) -> dict:
    return {
        "type": "reply.done",
        "message_id": message.pk,
        "status": message.status,
        "html": message.html,
        "usage": (
            {
                "prompt_tokens": message.prompt_tokens,
                "completion_tokens": message.completion_tokens,
            }
            if message.completion_tokens is not None
            else None
        ),
        "ttft_ms": message.ttft_ms,
        "duration_ms": message.duration_ms,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "model": message.model,
    }


async def group_send(conversation_id: int, payload: dict) -> None:
    await get_channel_layer().group_send(
        group_name_for(conversation_id), frame_event(payload)
    )


# Starting a reply.


@dataclass
class Turn:
    user_message: Message
    reply: Message | None  # None when the send was a retry of a stored client_id
    history: list[dict]
    new_title: str = ""  # set when this message titled the conversation


def title_from(content: str) -> str:
    """Title a conversation with the first line of its first message, sans Markdown."""
    first_line = content.strip().splitlines()[0] if content.strip() else ""
    first_line = first_line.lstrip("#>*-+ \t").strip() or first_line
    return first_line[:60] + ("…" if len(first_line) > 60 else "")


def history_for(conversation: Conversation, *, up_to: Message) -> list[dict]:
    """Build the model's messages: the conversation up to a user message.

    Of several answers to one user message (regenerated ones), the newest with
    text counts; answers that produced nothing are left out.
    """
    history: list[dict] = []
    if settings.CHAT_SYSTEM_PROMPT:
        history.append({"role": "system", "content": settings.CHAT_SYSTEM_PROMPT})
    answered: dict[int, int] = {}  # user message id -> index of its answer
    # Plain tuples of the three columns used: no model instances (and their
    # init signals) per row, and no rendered HTML read for nothing.
    recent = (
        conversation.messages.filter(id__lte=up_to.pk)
        .order_by("-id")
        .values_list("role", "content", "reply_to_id")[: settings.CHAT_HISTORY_MESSAGES]
    )
    for role, content, reply_to_id in reversed(recent):
        if role == Message.Role.ASSISTANT:
            if not content:
                continue
            if reply_to_id in answered:
                history[answered[reply_to_id]]["content"] = content
                continue
            answered[reply_to_id] = len(history)
        history.append({"role": role, "content": content})
    return history


def _busy() -> ReplyError:
    return ReplyError(
        "busy", "An answer is still being written here. Stop it or wait for it."
    )


@database_sync_to_async
def _store_turn(
    *, conversation_id: int, content: str, client_id: str | None, run_channel: str
) -> Turn:
    # The unique constraints decide (one streaming reply per conversation, one
    # message per client_id): no exists()/first() checks on the common path.
    try:
        with transaction.atomic():
            # The row lock serialises sends to one conversation across processes.
            conversation = Conversation.objects.select_for_update().get(
                pk=conversation_id
            )
            user_message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.USER,
                content=content,
                client_id=client_id or None,
            )
            reply = _create_reply(conversation, user_message, run_channel)
            # After the inserts, so a retried send and "busy" still come first;
            # its ReplyError rolls them back.
            _check_quota(conversation.user_id)
            new_title = "" if conversation.title else title_from(content)
            conversation.title = conversation.title or new_title
            conversation.save(update_fields=["title", "updated_at"])
            return Turn(
                user_message=user_message,
                reply=reply,
                history=history_for(conversation, up_to=user_message),
                new_title=new_title,
            )
    except IntegrityError:
        # A retried send (its client_id is stored) or an answer still streaming.
        if client_id:
            stored = Message.objects.filter(
                conversation_id=conversation_id, client_id=client_id
            ).first()
            if stored is not None:
                return Turn(user_message=stored, reply=None, history=[])
        raise _busy() from None


def _check_quota(user_id: int) -> None:
    """Refuse a new answer once a person's tokens today reach CHAT_DAILY_TOKEN_QUOTA."""
    quota = settings.CHAT_DAILY_TOKEN_QUOTA
    if not quota:
        return
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    used = Message.objects.filter(
        conversation__user_id=user_id, created_at__gte=today
    ).aggregate(
        total=Coalesce(Sum("prompt_tokens"), 0) + Coalesce(Sum("completion_tokens"), 0)
    )["total"]
    if used >= quota:
        raise ReplyError(
            "quota",
            f"You have used today's {quota:,} tokens. The quota resets at midnight.",
        )


def _create_reply(
    conversation: Conversation, user_message: Message, run_channel: str
) -> Message:
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=conversation.model or get_provider().default_model(),
        reply_to=user_message,
        run_channel=run_channel,
        heartbeat_at=timezone.now(),
    )


@database_sync_to_async
def _store_regeneration(
    *, conversation_id: int, message_id: int, run_channel: str
) -> Turn:
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        previous = conversation.messages.filter(
            pk=message_id, role=Message.Role.ASSISTANT
        ).first()
        if previous is None or previous.reply_to is None:
            raise ReplyError("not_found", "There is no such answer to regenerate.")
        user_message = previous.reply_to
        # An answer still streaming here fails this insert (IntegrityError: busy).
        reply = _create_reply(conversation, user_message, run_channel)
        _check_quota(conversation.user_id)
        conversation.save(update_fields=["updated_at"])
        return Turn(
            user_message=user_message,
            reply=reply,
            history=history_for(conversation, up_to=user_message),
        )


async def start_reply(
    *, conversation_id: int, content: str, client_id: str | None = None
) -> Turn:
    """Store the person's message and an empty answer, then run the answer."""
    content = content.strip()
    if not content:
        raise ReplyError("empty", "Type a message first.")
    if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ReplyError(
            "too_long",
            f"That message is too long ({len(content):,} characters; the limit is "
            f"{settings.CHAT_MAX_MESSAGE_CHARS:,}).",
        )
    verdict = await moderate(content)
    if verdict.flagged:
        logger.warning("Moderation refused a message (%s)", verdict.describe())
        raise ReplyError(
            "moderated",
            f"Moderation flagged this message ({verdict.describe()}), so it was not "
            "sent to the model.",
        )
    turn = await _store_turn(
        conversation_id=conversation_id,
        content=content,
        client_id=client_id,
        run_channel=await get_channel_layer().new_channel(),
    )
    if turn.reply is None:
        return turn
    user_event = {"type": "message", "message": turn.user_message.as_event()}
    user_event["client_id"] = turn.user_message.client_id
    await group_send(conversation_id, user_event)
    if turn.new_title:
        conversation = {"id": conversation_id, "title": turn.new_title}
        await group_send(conversation_id, {"type": "conversation", **conversation})
    _spawn(turn)
    return turn


async def regenerate_reply(*, conversation_id: int, message_id: int) -> Turn:
    """Answer the user message of an earlier answer again, as a new answer."""
    run_channel = await get_channel_layer().new_channel()
    try:
        turn = await _store_regeneration(
            conversation_id=conversation_id,
            message_id=_checked_id(message_id),
            run_channel=run_channel,
        )
    except IntegrityError:
        # The unique constraint: one streaming answer per conversation.
        raise _busy() from None
    _spawn(turn)
    return turn


def _spawn(turn: Turn) -> None:
    run = ReplyRun(reply=turn.reply, history=turn.history)
    _runs[run.message_id] = run
    run.task = asyncio.create_task(run.run(), name=f"reply-{run.message_id}")


# Reaching a run, wherever it lives.


def _checked_id(message_id) -> int:
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise ReplyError("bad_request", "message_id must be a number.")
    return message_id


async def _reply_in(conversation_id: int, message_id) -> Message:
    message_id = _checked_id(message_id)
    message = await Message.objects.filter(
        conversation_id=conversation_id, pk=message_id, role=Message.Role.ASSISTANT
    ).afirst()
    if message is None:
        raise ReplyError("not_found", "There is no such answer in this conversation.")
    return message


async def stop_reply(*, conversation_id: int, message_id) -> None:
    """Ask the run of an answer to stop, on whichever process it runs."""
    message = await _reply_in(conversation_id, message_id)
    if message.status != Message.Status.STREAMING:
        raise ReplyError("not_running", "That answer has already finished.")
    await get_channel_layer().send(message.run_channel, {"type": "run.stop"})


async def send_snapshot(*, conversation_id: int, message_id, reply_to: str) -> None:
    """Send one socket the text of an answer so far; a finished one also says done."""
    message = await _reply_in(conversation_id, message_id)
    await send_snapshot_of(message, reply_to=reply_to)


async def send_snapshot_of(message: Message, *, reply_to: str) -> None:
    layer = get_channel_layer()
    if message.status == Message.Status.STREAMING:
        # The run answers with the text up to the last offset it sent.
        await layer.send(
            message.run_channel, {"type": "run.snapshot", "reply_to": reply_to}
        )
        return
    snapshot = {"type": "reply.snapshot", "message_id": message.pk}
    await layer.send(reply_to, frame_event({**snapshot, "text": message.content}))
    await layer.send(reply_to, frame_event(done_payload(message)))


# The run.


@dataclass(frozen=True, slots=True)
class _Failed:
    error: str


_END = object()


class ReplyRun:
    def __init__(self, *, reply: Message, history: list[dict]):
        self.message_id = reply.pk
        self.conversation_id = reply.conversation_id
        self.channel = reply.run_channel
        self.model = reply.model
        self.created_at = reply.created_at.isoformat()
        self.history = history
        self.task: asyncio.Task | None = None
        self.sent: list[str] = []  # text already sent to the group, in order
        self.sent_len = 0  # its length in code points: the next delta's offset
        self.pending: list[str] = []  # text received but not yet sent
        self.stop_requested = False
        self.pump: asyncio.Task | None = None
        self.watcher: asyncio.Task | None = None  # moderation while streaming
        self.withheld = None  # the moderation verdict that cut this answer off
        self.moderated_len = 0  # how much of the text moderation has passed

    def text_so_far(self) -> str:
        return "".join(self.sent) + "".join(self.pending)

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen())
        try:
            await self._stream()
        except Exception:
            logger.exception("Reply %s failed unexpectedly", self.message_id)
            for task in (self.pump, self.watcher):
                if task is not None:
                    task.cancel()
            try:
                await self._finish(
                    status=Message.Status.FAILED,
                    error=UNEXPECTED_ERROR,
                    usage=None,
                    finish_reason="",
                    ttft_ms=None,
                    duration_ms=None,
                )
            except Exception:
                # The reaper will mark it interrupted from its last checkpoint.
                logger.exception("Could not store failed reply %s", self.message_id)
        finally:
            _runs.pop(self.message_id, None)
            # Cancelling a layer receive can drop a message; send one instead.
            layer = get_channel_layer()
            await layer.send(self.channel, {"type": "run.exit"})
            await listener
            await forget_channel(layer, self.channel)

    async def _listen(self) -> None:
        layer = get_channel_layer()
        while True:
            event = await layer.receive(self.channel)
            kind = event.get("type")
            if kind == "run.exit":
                return
            if kind == "run.stop":
                self.stop_requested = True
                if self.pump is not None:
                    self.pump.cancel()
            elif kind == "run.snapshot":
                snapshot = {
                    "type": "reply.snapshot",
                    "message_id": self.message_id,
                    "text": "".join(self.sent),
                }
                await layer.send(event["reply_to"], frame_event(snapshot))

    async def _pump(self, queue: asyncio.Queue) -> None:
        try:
            async for event in get_provider().stream(
                messages=self.history, model=self.model
            ):
                queue.put_nowait(event)
        except asyncio.CancelledError:
            pass  # a stop: the provider closed its upstream stream on the way out
        except ProviderError as exc:
            queue.put_nowait(_Failed(str(exc)))
        except Exception:
            logger.exception("Provider failed on reply %s", self.message_id)
            queue.put_nowait(_Failed(UNEXPECTED_ERROR))
        finally:
            queue.put_nowait(_END)

    async def _stream(self) -> None:
        flush_s = settings.CHAT_FLUSH_MS / 1000
        quiet_s = settings.CHAT_FLUSH_QUIET_MS / 1000
        checkpoint_s = settings.CHAT_CHECKPOINT_S
        heartbeat_s = settings.CHAT_HEARTBEAT_S
        started = time.monotonic()
        await group_send(
            self.conversation_id,
            {
                "type": "reply.start",
                "message_id": self.message_id,
                "model": self.model,
                "created_at": self.created_at,
            },
        )
        queue: asyncio.Queue = asyncio.Queue()
        self.pump = asyncio.create_task(self._pump(queue))
        if self.stop_requested:  # a stop that came before the pump existed
            self.pump.cancel()
        if get_moderator() is not None:
            self.watcher = asyncio.create_task(self._moderate_while_streaming())
        ttft_ms = usage = error = None
        finish_reason = ""
        # Leading-edge throttle: text after a quiet spell goes out at once; within
        # flush_s of the last send it gathers until the window ends. A token that
        # arrives alone (a gap before it, nothing queued behind it) also goes at
        # once: a model at 50 tokens/s never waits, a burst still shares frames.
        last_send = last_arrival = -flush_s
        last_checkpoint = last_frame = started
        while True:
            if queue.empty():
                now = time.monotonic()
                wake = min(last_checkpoint + checkpoint_s, last_frame + heartbeat_s)
                if self.pending:
                    wake = min(wake, last_send + flush_s)
                # asyncio.timeout, not wait_for: wait_for makes a task per wait
                # (Python 3.11), that is one per token.
                try:
                    async with asyncio.timeout(max(0, wake - now)):
                        event = await queue.get()
                except TimeoutError:
                    event = None
            else:
                event = queue.get_nowait()
            now = time.monotonic()
            alone = False
            if event is _END:
                break
            if isinstance(event, TextDelta):
                if ttft_ms is None:
                    ttft_ms = round((now - started) * 1000)
                self.pending.append(event.text)
                alone = now - last_arrival >= quiet_s and queue.empty()
                last_arrival = now
            elif isinstance(event, Usage):
                usage = event
            elif isinstance(event, Finish):
                finish_reason = event.reason
            elif isinstance(event, Queued):
                await group_send(
                    self.conversation_id,
                    {
                        "type": "reply.queued",
                        "message_id": self.message_id,
                        "position": event.position,
                    },
                )
            elif isinstance(event, _Failed):
                error = event.error
            if self.pending and (alone or now - last_send >= flush_s):
                await self._flush()
                last_send = last_frame = now
            if now - last_checkpoint >= checkpoint_s:
                await self._checkpoint()
                last_checkpoint = now
            if now - last_frame >= heartbeat_s:
                await group_send(
                    self.conversation_id,
                    {
                        "type": "reply.heartbeat",
                        "message_id": self.message_id,
                        "offset": self.sent_len,
                    },
                )
                last_frame = now
        await self._flush()
        if self.watcher is not None:
            self.watcher.cancel()
            await asyncio.gather(self.watcher, return_exceptions=True)
            await self._moderate_so_far()  # the tail since the last check
        if usage is None and (self.sent or self.pending):
            # A stopped or failed stream sends no usage; count what was produced.
            usage = await sync_to_async(get_provider().estimate_usage)(
                messages=self.history, text=self.text_so_far()
            )
        if self.withheld:
            status = Message.Status.FAILED
            error = WITHHELD_ERROR.format(self.withheld.describe())
        elif self.stop_requested:
            status = Message.Status.STOPPED
        elif error:
            status = Message.Status.FAILED
        else:
            status = Message.Status.COMPLETE
        await self._finish(
            status=status,
            error=error or "",
            usage=usage,
            finish_reason=finish_reason,
            ttft_ms=ttft_ms,
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    async def _moderate_while_streaming(self) -> None:
        while self.withheld is None:
            await asyncio.sleep(settings.CHAT_MODERATION_INTERVAL_S)
            await self._moderate_so_far()

    async def _moderate_so_far(self) -> None:
        """Check the whole answer so far (context matters); cut it off if flagged."""
        text = self.text_so_far()
        if len(text) <= self.moderated_len or self.withheld:
            return
        verdict = await moderate(text)
        self.moderated_len = len(text)
        if verdict.flagged:
            logger.warning(
                "Moderation withheld reply %s (%s)", self.message_id, verdict.describe()
            )
            self.withheld = verdict
            self.pump.cancel()

    async def _flush(self) -> None:
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending.clear()
        offset = self.sent_len
        self.sent.append(text)
        self.sent_len += len(text)
        await group_send(
            self.conversation_id,
            {
                "type": "reply.delta",
                "message_id": self.message_id,
                "offset": offset,
                "text": text,
            },
        )

    async def _checkpoint(self) -> None:
        content = self.text_so_far()
        await database_sync_to_async(Message.objects.filter(pk=self.message_id).update)(
            content=content, heartbeat_at=timezone.now()
        )

    async def _finish(
        self,
        *,
        status: str,
        error: str,
        usage: Usage | None,
        finish_reason: str,
        ttft_ms: int | None,
        duration_ms: int | None,
    ) -> None:
        content = self.text_so_far()
        # A withheld answer is kept for staff, but no page shows it again.
        html = (
            ""
            if self.withheld
            else await sync_to_async(render_markdown, thread_sensitive=False)(content)
        )
        message = Message(
            pk=self.message_id,
            conversation_id=self.conversation_id,
            role=Message.Role.ASSISTANT,
            content=content,
            html=html,
            status=status,
            model=self.model,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            ttft_ms=ttft_ms,
            duration_ms=duration_ms,
            finish_reason=finish_reason,
            error=error,
        )
        # Stored before reply.done goes out: whoever reads after `done` sees it.
        flag_note = f"Moderation: {self.withheld.describe()}" if self.withheld else ""
        await database_sync_to_async(_store_finish)(message, flag_note=flag_note)
        await group_send(self.conversation_id, done_payload(message))


@transaction.atomic
def _store_finish(message: Message, *, flag_note: str = "") -> None:
    fields = [
        "content",
        "html",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "ttft_ms",
        "duration_ms",
        "finish_reason",
        "error",
    ]
    Message.objects.filter(pk=message.pk).update(
        **{field: getattr(message, field) for field in fields},
        run_channel="",
        heartbeat_at=None,
    )
    if flag_note:
        # Put it in the staff's review queue, flagged by no one in particular.
        Flag.objects.create(
            conversation_id=message.conversation_id,
            message_id=message.pk,
            reason=Flag.Reason.HARMFUL,
            note=flag_note,
        )


# The reaper: answers whose process died are marked interrupted.


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


async def areap_replies() -> int:
    """Reap in this process, sparing its own live runs, and tell the sockets."""
    reaped = await database_sync_to_async(reap_replies)(keep=tuple(_runs))
    for message in reaped:
        await group_send(message.conversation_id, done_payload(message))
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
