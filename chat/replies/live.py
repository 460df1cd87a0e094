"""Live formatting: the settled blocks of a streaming answer, rendered as it grows.

The run tells `LiveBlocks` each piece of text it has sent (`sent`); the settling
rule (`settle.Settler`) finds where blocks became final; the text between the last
rendered boundary and the newest one is rendered by `arender_answer`, the same
renderer, sanitizer and time budget as the final answer, and goes out as
`reply.blocks {message_id, offset, upto, html}`. So each character is rendered
once here (and once more at the end), never the whole text again per block.

Rendering runs in the render budget's worker processes, the loop waiting for
their answer, one render at a time per answer: boundaries found meanwhile join
the next render, and deltas never wait for it. `reply.done`'s HTML stays the
truth: Markdown that spans blocks (reference links, footnotes, loose lists) may
preview differently.
"""

import asyncio
from collections.abc import Awaitable, Callable

from chat.render_budget import arender_answer
from chat.replies import wire
from chat.replies.settle import Settler

__all__ = ["LiveBlocks"]


class LiveBlocks:
    def __init__(
        self,
        message_id: int,
        send: Callable[[dict], Awaitable[None]],
        *,
        enabled: bool = True,
    ):
        self.message_id = message_id
        self._send = send  # sends a frame to the answer's group
        self._settler = Settler() if enabled else None
        self._unrendered: list[str] = []  # text sent after `upto`, in pieces
        self._html: list[str] = []  # the HTML sent so far, in order
        self.upto = 0  # code-point offset where the rendered text ends
        self._render: asyncio.Task | None = None

    def sent(self, text: str) -> None:
        """Take text the run has just sent as a delta; render what it settled."""
        if self._settler is None:
            return
        self._unrendered.append(text)
        if self._settler.feed(text) and self._render is None:
            self._render = asyncio.create_task(self._render_settled())

    def snapshot(self) -> dict:
        """The settled HTML so far and the offset it covers, for `reply.snapshot`."""
        return {"upto": self.upto, "html": "".join(self._html)}

    async def close(self) -> None:
        """Stop rendering (the final HTML replaces the preview); send nothing more."""
        self._settler = None
        if self._render is not None:
            self._render.cancel()
            await asyncio.gather(self._render, return_exceptions=True)

    async def _render_settled(self) -> None:
        try:
            while self._settler is not None and self._settler.settled > self.upto:
                start, upto = self.upto, self._settler.settled
                text = "".join(self._unrendered)
                cut = upto - start
                self._unrendered = [text[cut:]] if len(text) > cut else []
                # In the render budget's worker processes, as the final answer: a
                # block that would render for seconds falls back to its text.
                html = await arender_answer(text[:cut])
                self.upto = upto
                self._html.append(html)
                await self._send(
                    wire.blocks_payload(self.message_id, start, upto, html)
                )
        finally:
            self._render = None
