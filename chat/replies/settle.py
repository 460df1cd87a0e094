"""Where a streaming answer's Markdown is settled: the rule for live formatting.

Text before a boundary forms whole blocks that later text cannot change, so the
server renders it once while the answer still streams (`chat/replies/live.py`).
A boundary is:

- the start of the first line after one or more blank lines, outside an open code
  fence, when that line is not indented (an indented line may continue a list item
  or an indented code block across the blank line, so it settles nothing);
- the end of the line that closes a fence opened at the top level. A fence opens
  with three or more backticks or tildes and closes only with at least as many of
  the same character and nothing else on the line. A top-level fence starts at the
  margin, as our renderer wants it; an indented or quoted one, in a list item or a
  quote, is tracked too (its blank lines are not boundaries), but its closing
  settles nothing by itself, since the list or quote goes on.

A table is a run of lines without a blank one, and our renderer takes a line after
it as one more row, so a table settles at the blank line that ends it. No boundary
closes a stretch of whitespace only. The rule looks only at whole lines and at the
first character of the line after blank ones, so the same text cut into pieces at
any positions gives the same boundaries. Pure and linear: each character is looked
at a bounded number of times.
"""

import re

__all__ = ["Settler"]

# What may stand before a block's own text on its line: indentation, quote
# markers and list markers, nested.
_CONTAINERS = re.compile(r"(?:[ \t]*(?:>|(?:[-*+]|\d{1,9}[.)])(?=[ \t])))*[ \t]*")
_FENCE_OPEN = re.compile(r"(`{3,}|~{3,})(.*)")
# Inside a fence, list markers are code: a closing line may only be indented or quoted.
_CLOSING_PREFIX = re.compile(r"[ \t>]*")


class _Fence:
    __slots__ = ("char", "length", "nested")

    def __init__(self, char: str, length: int, nested: bool):
        self.char = char
        self.length = length
        self.nested = nested

    def closed_by(self, line: str) -> bool:
        prefix = _CLOSING_PREFIX.match(line).group()
        if prefix and not self.nested:  # a top-level fence closes at the margin
            return False
        rest = line[len(prefix) :].rstrip()
        return len(rest) >= self.length and rest == self.char * len(rest)


def _fence_opened_by(line: str) -> _Fence | None:
    prefix = _CONTAINERS.match(line).group()
    match = _FENCE_OPEN.match(line, len(prefix))
    if match is None:
        return None
    marker, info = match.groups()
    if marker[0] == "`" and "`" in info:  # inline code, not a fence
        return None
    return _Fence(marker[0], len(marker), nested=bool(prefix))


class Settler:
    """Feed an answer's text as it arrives; learn the offsets where blocks settle.

    Offsets count code points (Python's `len`), as the wire's offsets do.
    """

    __slots__ = (
        "_after_blank",
        "_content",
        "_fence",
        "_line",
        "_line_start",
        "settled",
    )

    def __init__(self):
        self.settled = 0  # the last boundary: text before it is settled
        self._line_start = 0  # offset where the current, unfinished line starts
        self._line: list[str] = []  # pieces of the current line
        self._fence: _Fence | None = None  # the open code fence
        self._after_blank = False  # blank lines (outside a fence) just ended a line
        self._content = False  # non-blank text since the last boundary

    def feed(self, text: str) -> list[int]:
        """Take the next piece of the text; return the boundaries it completed."""
        boundaries: list[int] = []
        start = 0
        while (newline := text.find("\n", start)) >= 0:
            self._line.append(text[start:newline])
            line = "".join(self._line)
            self._line.clear()
            self._whole_line(line, boundaries)
            self._line_start += len(line) + 1
            start = newline + 1
        rest = text[start:]
        if rest:
            self._line.append(rest)
            if self._after_blank and rest.strip(" \t\r"):
                # The line after blank ones has begun: its first character decides.
                self._after_blank = False
                self._line_begins("".join(self._line), boundaries)
        return boundaries

    def _whole_line(self, line: str, boundaries: list[int]) -> None:
        if self._fence is not None:
            if self._fence.closed_by(line):
                nested = self._fence.nested
                self._fence = None
                if not nested:
                    self._settle(self._line_start + len(line) + 1, boundaries)
            return
        if not line.strip(" \t\r"):
            self._after_blank = True
            return
        if self._after_blank:
            self._after_blank = False
            self._line_begins(line, boundaries)
        self._content = True
        self._fence = _fence_opened_by(line)

    def _line_begins(self, line: str, boundaries: list[int]) -> None:
        """A non-blank line after blank ones: a boundary before it, unless indented."""
        if line[0] not in " \t":
            self._settle(self._line_start, boundaries)
        self._content = True

    def _settle(self, offset: int, boundaries: list[int]) -> None:
        if self._content and offset > self.settled:
            self.settled = offset
            boundaries.append(offset)
            self._content = False
