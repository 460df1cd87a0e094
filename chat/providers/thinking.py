"""Thinking written inline: `<think>…</think>` at the start of an answer's content.

Some models (DeepSeek-R1's distills, QwQ, Qwen3 served without a reasoning
parser) write their thinking into the content, between `<think>` and `</think>`,
before the answer. `ThinkSplitter` turns such content into reasoning and answer
text as it streams, whatever the cut into chunks: a tag cut across chunks is held
back until the next chunk says whether it is one.

Only a `<think>` that opens the content (after whitespace) starts thinking, and
the first `</think>` ends it; a tag anywhere else is the answer's own text (an
answer about these tags, a code sample). The whitespace between `</think>` and
the answer is dropped. A stream that ends inside the thinking keeps it all as
reasoning (a model cut off by the length limit mid-thought).

`split_think_tags` applies it to a provider's stream; every backend goes through
it (chat/replies/run.py), so the local model's output is split the same way.
"""

from collections.abc import AsyncIterator
from contextlib import aclosing

from chat.providers.base import Finish, ReasoningDelta, StreamEvent, TextDelta, Usage

OPEN = "<think>"
CLOSE = "</think>"

_START, _THINKING, _AFTER, _ANSWER = "start", "thinking", "after", "answer"


def _partial_tag_at_end(text: str, tag: str) -> int:
    """The length of the longest end of `text` that could begin `tag`."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Feed content chunks, get (part, text) pieces: "reasoning" or "answer"."""

    def __init__(self):
        self.state = _START
        self.held = ""  # text that may still turn out to be (part of) a tag

    def feed(self, text: str) -> list[tuple[str, str]]:
        if self.state == _ANSWER:  # the common case: nothing to look for
            return [("answer", text)] if text else []
        self.held += text
        pieces: list[tuple[str, str]] = []
        if self.state == _START:
            stripped = self.held.lstrip()
            if stripped.startswith(OPEN):
                self.state = _THINKING
                self.held = stripped[len(OPEN) :]
            elif stripped and not OPEN.startswith(stripped):
                self.state = _ANSWER
                pieces.append(("answer", self.held))
                self.held = ""
        if self.state == _THINKING:
            end = self.held.find(CLOSE)
            if end < 0:
                keep = _partial_tag_at_end(self.held, CLOSE)
                thought = self.held[: len(self.held) - keep]
                self.held = self.held[len(self.held) - keep :]
                if thought:
                    pieces.append(("reasoning", thought))
                return pieces
            if end:
                pieces.append(("reasoning", self.held[:end]))
            self.held = self.held[end + len(CLOSE) :]
            self.state = _AFTER
        if self.state == _AFTER:
            answer = self.held.lstrip()
            self.held = ""
            if answer:
                self.state = _ANSWER
                pieces.append(("answer", answer))
        return pieces

    def finish(self) -> list[tuple[str, str]]:
        """The text still held when the stream ends, as what it turned out to be."""
        held, self.held = self.held, ""
        if not held:
            return []
        if self.state == _THINKING:
            return [("reasoning", held)]
        if self.state == _START:
            return [("answer", held)]
        return []  # _AFTER holds nothing; _ANSWER never holds text


async def split_think_tags(stream: AsyncIterator[StreamEvent]) -> AsyncIterator:
    """The same stream with inline thinking turned into `ReasoningDelta`s."""
    splitter = ThinkSplitter()

    def events(pieces):
        for part, text in pieces:
            yield ReasoningDelta(text) if part == "reasoning" else TextDelta(text)

    # aclosing: however this ends, the provider's stream closes (a stop ends
    # generation upstream).
    async with aclosing(stream) as inner:
        async for event in inner:
            if isinstance(event, TextDelta):
                if splitter.state == _ANSWER and event.text:  # past the thinking
                    yield event
                    continue
                for piece in events(splitter.feed(event.text)):
                    yield piece
                continue
            if isinstance(event, Finish | Usage):
                # The content has ended, and so has any tag it held back.
                for piece in events(splitter.finish()):
                    yield piece
            yield event
    for piece in events(splitter.finish()):
        yield piece
