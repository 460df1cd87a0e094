"""The run of one answer: an asyncio task owned by no socket.

It streams the provider's deltas to the conversation's group with their
code-point offsets (the answer and its thinking each a part of its own: parts.py),
checkpoints its text, watches moderation, and at the end renders and stores the
answer in one UPDATE before it says `reply.done`. Sockets
reach it through its own channel (stop, snapshot), so this works across processes.

    provider --pump (throttle)--> group: reply.delta      one task per token
    timers (throttle window, heartbeat, deadline) --> run loop --> group
    every CHAT_CHECKPOINT_S: this process's runs' text, in one write (checkpoints.py)
    run channel: run.stop / run.snapshot / run.exit --> listener

The pump reads the provider and sends each token's frame itself, so a token goes
from the upstream read to the sockets of this process in one task (fanout.py).
The run loop owns the run's lifecycle and sends what falls due on a timer; frames
leave one at a time in offset order (`_sending`). A stop never cancels the pump
while it sends a frame: only while it waits for the provider (`_cut_off`).

A little over 400 lines on purpose: the run loop, its listener and its final write
share the run's state, and splitting them would spread one lifecycle over files.
"""

import asyncio
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat import fanout, metrics
from chat.layers import forget_channel
from chat.models import Message
from chat.moderation import get_moderator, moderate
from chat.providers import (
    Finish,
    ProviderError,
    Queued,
    ReasoningDelta,
    TextDelta,
    Usage,
    get_provider,
)
from chat.providers.thinking import split_think_tags
from chat.render_budget import arender_answer
from chat.replies import turns, wire
from chat.replies.checkpoints import checkpoints
from chat.replies.errors import REPLY_TIMEOUT_ERROR, UNEXPECTED_ERROR, WITHHELD_ERROR
from chat.replies.live import LiveBlocks
from chat.replies.parts import Part, thinking_ms
from chat.tasks import detached_task

logger = logging.getLogger(__name__)

# Strong references: asyncio keeps only weak ones, and a run belongs to no socket.
_runs: dict[int, "ReplyRun"] = {}


def spawn(reply: Message, history: list[dict]) -> "ReplyRun":
    """Start running an answer stored as streaming, in this process."""
    run = ReplyRun(reply=reply, history=history)
    _runs[run.message_id] = run
    run.task = detached_task(run.run(), name=f"reply-{run.message_id}")
    return run


def local_run(message_id: int) -> "ReplyRun | None":
    """The run of this answer if it runs in this process, else None."""
    return _runs.get(message_id)


def local_run_ids() -> tuple[int, ...]:
    """The answers this process is running (the reaper spares them)."""
    return tuple(_runs)


@dataclass(frozen=True, slots=True)
class _Failed:
    error: str


_END = object()  # the pump has ended
_TICK = object()  # look again: a timer rang, or a checkpoint round failed


class _Gone(Exception):
    """This answer is no longer ours to write: reaped, or deleted."""


class ReplyRun:
    def __init__(self, *, reply: Message, history: list[dict]):
        self.message_id = reply.pk
        self.conversation_id = reply.conversation_id
        self.channel = reply.run_channel
        self.model = reply.model
        self.created_at = reply.created_at.isoformat()
        self.history = history
        self.task: asyncio.Task | None = None
        # The answer and the thinking shown apart: each its own text and offsets.
        throttle = {
            "window_s": settings.CHAT_FLUSH_MS / 1000,
            "quiet_s": settings.CHAT_FLUSH_QUIET_MS / 1000,
        }
        self.answer = Part(wire.ANSWER, **throttle)
        self.reasoning = Part(wire.REASONING, **throttle)
        self.parts = (self.reasoning, self.answer)  # thinking comes first
        self.stop_requested = False
        self.pump: asyncio.Task | None = None  # reads the provider, sends tokens
        self.reading = False  # the pump waits for the provider: cut off by cancel
        self.cut = False  # stop reading the provider (a stop, a timeout, moderation)
        self._sending = asyncio.Lock()  # one frame at a time, in offset order
        self.ttft_ms: int | None = None
        self.finish_reason = ""
        self.started = 0.0
        self.last_frame = 0.0  # when the group last got a frame (heartbeats)
        self.hub: fanout.Hub | None = None  # this process's, from the start
        self.watcher: asyncio.Task | None = None  # moderation while streaming
        self.withheld = None  # the moderation verdict that cut this answer off
        self.moderated_len = 0  # how much of the text moderation has passed
        self.usage: Usage | None = None  # as the provider reported it
        self.ended = False  # the final write was made: it is never made twice
        self.final_status: str | None = None  # as stored by the final write
        # Settled Markdown rendered as it streams (reply.blocks).
        self.blocks = LiveBlocks(
            self.message_id, self._group_send, enabled=settings.CHAT_LIVE_FORMAT
        )
        self.timed_out = False  # ran past CHAT_REPLY_TIMEOUT_S and was cut off
        # What the run loop reads: _TICK when a timer rang or a checkpoint round
        # failed, a _Failed from the pump, and _END when the pump ends.
        self.queue: asyncio.Queue = asyncio.Queue()
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_at = 0.0
        self.checkpoint_failure: Exception | None = None

    def text_so_far(self) -> str:
        return self.answer.text()

    async def finished(self) -> None:
        """Wait until this run has stored its answer and let go of its channel."""
        await asyncio.shield(self.task)

    async def run(self) -> None:
        # wire.group_send's way, the hub looked up once: the run stays on its loop.
        self.hub = fanout.hub()
        listener = asyncio.create_task(self._listen())
        metrics.STREAMS_RUNNING.inc()
        try:
            await self._stream()
        except _Gone:
            logger.info(
                "Reply %s was reaped or deleted; its run stops", self.message_id
            )
        except Exception:
            logger.exception("Reply %s failed unexpectedly", self.message_id)
            await self._end_failed()
        finally:
            metrics.STREAMS_RUNNING.dec()
            # Whatever ended the run, the upstream stream and the watcher end too.
            helpers = [task for task in (self.pump, self.watcher) if task is not None]
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            _runs.pop(self.message_id, None)
            checkpoints().drop(self)
            self._wake_at(None)
            # Cancelling a layer receive can drop a message; send one instead.
            layer = get_channel_layer()
            await layer.send(self.channel, {"type": "run.exit"})
            await listener
            await forget_channel(layer, self.channel)

    async def _end_failed(self) -> None:
        if self.ended:  # stored already: something after the write failed
            return
        for task in (self.pump, self.watcher):
            if task is not None:
                task.cancel()
        try:
            await self._finish(
                status=Message.Status.FAILED,
                error=UNEXPECTED_ERROR,
                finish_reason="",
                ttft_ms=None,
                duration_ms=None,
            )
        except _Gone:
            pass
        except Exception:
            # The reaper will mark it interrupted from its last checkpoint.
            logger.exception("Could not store failed reply %s", self.message_id)

    async def _listen(self) -> None:
        layer = get_channel_layer()
        while True:
            event = await layer.receive(self.channel)
            kind = event.get("type")
            if kind == "run.exit":
                return
            if kind == "run.stop":
                self.stop_requested = True
                self._cut_off()
            elif kind == "run.snapshot":
                # Only text already sent: the deltas after it carry larger offsets.
                # A withheld answer's text is for staff only.
                hide = bool(self.withheld)
                snapshot = wire.snapshot_payload(
                    self.message_id,
                    "" if hide else self.answer.sent_text(),
                    reasoning="" if hide else self.reasoning.sent_text(),
                    **self.blocks.snapshot(),
                )
                try:
                    await wire.send_to(event["reply_to"], snapshot)
                except Exception:
                    # A full or failing layer (ChannelFull): that tab resyncs again;
                    # the listener must live on, or stops would go unheard.
                    logger.exception("Could not send a snapshot of %s", self.message_id)

    def _cut_off(self) -> None:
        """Stop reading the provider (which ends generation upstream): at once
        while the pump waits for it, else once the frame it sends has gone."""
        self.cut = True
        if self.pump is not None and self.reading:
            self.pump.cancel()

    async def _pump(self) -> None:
        queue = self.queue
        try:
            # Thinking written inline (<think>…</think>) becomes its own part.
            events = split_think_tags(
                get_provider().stream(messages=self.history, model=self.model)
            )
            # aclosing: however this ends, the provider's stream closes.
            async with aclosing(events):
                while not self.cut:
                    self.reading = True
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    finally:
                        self.reading = False
                    await self._take(event)
        except asyncio.CancelledError:
            pass  # a stop: the provider closed its upstream stream on the way out
        except ProviderError as exc:
            queue.put_nowait(_Failed(str(exc)))
        except Exception:
            logger.exception("Reply %s failed while streaming", self.message_id)
            queue.put_nowait(_Failed(UNEXPECTED_ERROR))
        finally:
            queue.put_nowait(_END)

    async def _take(self, event) -> None:
        """One event from the provider, in the pump: text goes out when due."""
        if isinstance(event, TextDelta | ReasoningDelta):
            now = time.monotonic()
            if self.ttft_ms is None:
                self.ttft_ms = round((now - self.started) * 1000)
            part = self.answer if isinstance(event, TextDelta) else self.reasoning
            urgent = part if part.arrived(event.text, now) else None
            await self._flush_due(now, urgent)
            if part.pending:
                self._wake_at(part.due_at())  # the run loop sends it when due
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish):
            self.finish_reason = event.reason
        elif isinstance(event, Queued):
            await self._group_send(
                {
                    "type": "reply.queued",
                    "message_id": self.message_id,
                    "position": event.position,
                }
            )

    async def _group_send(self, payload: dict) -> None:
        async with self._sending:
            await self.hub.publish(self.conversation_id, wire.frame(payload))

    async def _stream(self) -> None:
        heartbeat_s = settings.CHAT_HEARTBEAT_S
        self.started = self.last_frame = started = time.monotonic()
        deadline = started + settings.CHAT_REPLY_TIMEOUT_S
        await self._group_send(
            {
                "type": "reply.start",
                "message_id": self.message_id,
                "model": self.model,
                "created_at": self.created_at,
            }
        )
        checkpoints().keep(self)
        queue = self.queue
        self.pump = asyncio.create_task(self._pump())
        if self.stop_requested:  # a stop that came before the pump existed
            self._cut_off()
        if get_moderator() is not None:
            self.watcher = asyncio.create_task(self._moderate_while_streaming())
        error = None
        while True:
            self._wake_at(
                min(
                    self.last_frame + heartbeat_s,
                    deadline,
                    *(part.due_at() for part in self.parts),
                )
            )
            event = await queue.get()
            if self.checkpoint_failure is not None:
                raise self.checkpoint_failure
            if event is _END:
                break
            if isinstance(event, _Failed):
                error = event.error
            now = time.monotonic()
            await self._flush_due(now, None)
            if now >= deadline and not self.timed_out:
                # Cut off like a stop; the pump's end (_END) ends this loop.
                self.timed_out = True
                self._cut_off()
                deadline = float("inf")
            if now - self.last_frame >= heartbeat_s:
                await self._group_send(
                    {
                        "type": "reply.heartbeat",
                        "message_id": self.message_id,
                        "offset": self.answer.sent_len,
                        "reasoning_offset": self.reasoning.sent_len,
                    }
                )
                self.last_frame = now
        for part in self.parts:
            await self._flush(part, time.monotonic())
        if self.watcher is not None:
            self.watcher.cancel()
            await asyncio.gather(self.watcher, return_exceptions=True)
            await self._moderate_so_far()  # the tail since the last check
        if self.withheld:
            status = Message.Status.FAILED
            error = WITHHELD_ERROR.format(self.withheld.describe())
        elif self.stop_requested:
            status = Message.Status.STOPPED
        elif self.timed_out:
            status = Message.Status.FAILED
            error = REPLY_TIMEOUT_ERROR
        elif error:
            status = Message.Status.FAILED
        else:
            status = Message.Status.COMPLETE
        await self._finish(
            status=status,
            error=error or "",
            finish_reason=self.finish_reason,
            ttft_ms=self.ttft_ms,
            duration_ms=round((time.monotonic() - started) * 1000),
        )

    async def _moderate_while_streaming(self) -> None:
        while self.withheld is None:
            await asyncio.sleep(settings.CHAT_MODERATION_INTERVAL_S)
            await self._moderate_so_far()

    async def _moderate_so_far(self) -> None:
        """Check the whole answer so far (context matters); cut it off if flagged."""
        # The thinking is shown too: it is checked with the answer.
        text = "\n\n".join(filter(None, (self.reasoning.text(), self.text_so_far())))
        if len(text) <= self.moderated_len or self.withheld:
            return
        verdict = await moderate(text)
        self.moderated_len = len(text)
        if verdict.flagged:
            logger.warning(
                "Moderation withheld reply %s (%s)", self.message_id, verdict.describe()
            )
            self.withheld = verdict
            self._cut_off()

    async def _flush_due(self, now: float, urgent: Part | None) -> None:
        """Send each part's text that is due: `urgent`'s at once, the others'
        when their window is over."""
        for part in self.parts:
            if part.due(now, part is urgent):
                await self._flush(part, now)

    async def _flush(self, part: Part, now: float) -> None:
        async with self._sending:
            tokens, oldest = len(part.pending), part.pending_since
            delta = part.take(self.message_id, now)
            if delta is None:
                return
            metrics.frame_sent(tokens, oldest)
            await self.hub.publish(self.conversation_id, wire.frame(delta))
            self.last_frame = now
        if part is self.answer:  # live formatting is the answer's alone
            self.blocks.sent(delta["text"])

    def checkpoint_row(self) -> tuple:
        """What a checkpoint stores of this run (chat/replies/checkpoints.py)."""
        return (
            self.message_id,
            self.channel,
            self.text_so_far(),
            self.reasoning.text(),
        )

    def checkpoint_failed(self, error: Exception | None) -> None:
        """A checkpoint round found the answer gone (None) or failed: stop."""
        if self.checkpoint_failure is None:
            self.checkpoint_failure = error or _Gone()
            self.queue.put_nowait(_TICK)

    def _wake_at(self, when: float | None) -> None:
        """Have the run loop look again by `when` (None: never). One timer,
        moved only earlier: most tokens arrive before it rings, and arming a
        timer per token cost more than the tokens' own frames."""
        alarm = self._alarm
        if when is None or when == float("inf"):
            if when is None and alarm is not None:
                alarm.cancel()
                self._alarm = None
            return
        if alarm is not None and self._alarm_at <= when:
            return
        if alarm is not None:
            alarm.cancel()
        self._alarm_at = when
        self._alarm = asyncio.get_running_loop().call_later(
            max(0.0, when - time.monotonic()), self._ring
        )

    def _ring(self) -> None:
        self._alarm = None
        self.queue.put_nowait(_TICK)

    async def _usage(self) -> Usage | None:
        """The provider's count, else (a stopped or failed stream) an estimate."""
        if self.usage is not None or not (self.text_so_far() or self.reasoning.text()):
            return self.usage
        try:
            return await sync_to_async(get_provider().estimate_usage)(
                messages=self.history,
                text=self.text_so_far(),
                reasoning=self.reasoning.text(),
            )
        except Exception:
            logger.exception(
                "Could not estimate the usage of reply %s", self.message_id
            )
            return None

    async def _finish(
        self,
        *,
        status: str,
        error: str,
        finish_reason: str,
        ttft_ms: int | None,
        duration_ms: int | None,
    ) -> None:
        await self.blocks.close()  # no reply.blocks after reply.done
        content, reasoning = self.text_so_far(), self.reasoning.text()
        usage = await self._usage()
        # A withheld answer is kept for staff, but no page shows it again.
        html = "" if self.withheld else await arender_answer(content)
        reasoning_html = (
            "" if self.withheld or not reasoning else await arender_answer(reasoning)
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
            withheld=self.withheld is not None,
            reasoning=reasoning,
            reasoning_html=reasoning_html,
            reasoning_ms=thinking_ms(self.reasoning, self.answer),
            reasoning_tokens=usage.reasoning_tokens if usage else None,
        )
        # Stored before reply.done goes out: whoever reads after `done` sees it.
        flag_note = f"Moderation: {self.withheld.describe()}" if self.withheld else ""
        today = await database_sync_to_async(turns.store_finish_and_usage)(
            message, self.channel, flag_note=flag_note
        )
        self.ended = True
        if today is None:
            raise _Gone
        self.final_status = status
        metrics.reply_finished(status, ttft_ms)
        await self._group_send({"type": "usage", **today})
        await self._group_send(wire.done_payload(message))
