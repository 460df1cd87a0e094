"""The checkpoints of every answer running in this process, written together.

Every CHAT_CHECKPOINT_S each running answer's text so far is stored, and its
heartbeat renewed so the reaper spares it. One writer per process stores them all
in one `executemany` UPDATE, a row each, and one SELECT (`turns.store_checkpoints`):
one database-thread hop and one commit, instead of a
hop, an UPDATE and a commit per answer: at 200 streams that was 100 hops a second
on the one database thread (bench/README.md, figure 5).

A run that learns from a round that its answer is no longer its own (reaped,
deleted), or that the write failed, stops as it did when it wrote alone
(`ReplyRun.checkpoint_failed`).
"""

import asyncio
import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings

from chat.replies import turns
from chat.tasks import detached_task

if TYPE_CHECKING:
    from chat.replies.run import ReplyRun

logger = logging.getLogger(__name__)


class Checkpoints:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.runs: dict[int, ReplyRun] = {}
        self.writer: asyncio.Task | None = None
        self.waiting: list[asyncio.Future] = []  # for the next round's end

    def keep(self, run: "ReplyRun") -> None:
        """Checkpoint this run from the next round on, until `drop`."""
        self.runs[run.message_id] = run
        if self.writer is None:
            self.writer = detached_task(self._write_every(), name="checkpoints")

    def drop(self, run: "ReplyRun") -> None:
        self.runs.pop(run.message_id, None)

    async def next_round(self) -> None:
        """Wait until a round that starts after this call has been written."""
        waiter = self.loop.create_future()
        self.waiting.append(waiter)
        await waiter

    async def _write_every(self) -> None:
        try:
            while self.runs:
                await asyncio.sleep(settings.CHAT_CHECKPOINT_S)
                await self.write_round()
        finally:
            self.writer = None
            waiting, self.waiting = self.waiting, []
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)

    async def write_round(self) -> None:
        waiting, self.waiting = self.waiting, []
        runs = sorted(self.runs.values(), key=lambda run: run.message_id)
        rows = []
        try:
            # Inside: a failure here must stop these runs, not the writer.
            rows = [run.checkpoint_row() for run in runs]
            if rows:
                gone = await database_sync_to_async(turns.store_checkpoints)(rows)
                for run in runs:
                    if run.message_id in gone:
                        run.checkpoint_failed(None)
        except Exception as exc:
            logger.exception("Could not store %d checkpoints", len(runs))
            for run in runs:
                run.checkpoint_failed(exc)
        finally:
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)


_writers: dict[int, Checkpoints] = {}


def checkpoints() -> Checkpoints:
    """This process's writer (one per event loop)."""
    loop = asyncio.get_running_loop()
    current = _writers.get(id(loop))
    if current is None or current.loop is not loop:
        current = _writers[id(loop)] = Checkpoints(loop)
    return current
