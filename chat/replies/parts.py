"""One part of a streaming answer (the answer, or the thinking shown apart).

Each part has its own text, its own code-point offsets on the wire and its own
throttle, so a burst of thinking never holds back the answer's first words and
the page applies each part's deltas by the same offset rule.
"""

from chat.replies import wire
from chat.replies.throttle import Throttle


class Part:
    def __init__(self, name: str, *, window_s: float, quiet_s: float):
        self.name = name
        self.sent: list[str] = []  # text already sent to the group, in order
        self.sent_len = 0  # its length in code points: the next delta's offset
        self.pending: list[str] = []  # text received but not yet sent
        self.pending_since = 0.0  # when its oldest piece arrived (chat/metrics.py)
        self.throttle = Throttle(window_s=window_s, quiet_s=quiet_s)
        self.first_at: float | None = None  # monotonic time of its first text
        self.last_at: float | None = None  # and of its latest

    def arrived(self, text: str, now: float) -> bool:
        """Take text from the provider; True when it should go out at once."""
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        if not self.pending:
            self.pending_since = now
        self.pending.append(text)
        return self.throttle.arrived(now)

    def due(self, now: float, urgent: bool) -> bool:
        """Whether pending text goes out now: urgent, or the window is over."""
        return bool(self.pending) and (urgent or self.throttle.window_over(now))

    def due_at(self) -> float:
        """When pending text must go out (infinity when there is none)."""
        return self.throttle.due_at() if self.pending else float("inf")

    def take(self, message_id: int, now: float) -> dict | None:
        """Move the pending text to sent; the `reply.delta` that sends it."""
        if not self.pending:
            return None
        text = "".join(self.pending)
        self.pending.clear()
        offset = self.sent_len
        self.sent.append(text)
        self.sent_len += len(text)
        self.throttle.sent(now)
        return wire.delta_payload(message_id, self.name, offset, text)

    def sent_text(self) -> str:
        return "".join(self.sent)

    def text(self) -> str:
        """Everything received, sent or not."""
        return self.sent_text() + "".join(self.pending)


def thinking_ms(reasoning: Part, answer: Part) -> int | None:
    """From the first thinking token to the answer's first (or to the last
    thinking token, when no answer came): the N of "Thought for N s"."""
    if reasoning.first_at is None:
        return None
    end = answer.first_at or reasoning.last_at
    return max(0, round((end - reasoning.first_at) * 1000))
