"""The contract every model backend meets: stream text deltas, then usage and finish."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from django.conf import settings

# Tokens a message costs beyond its text (role and separators, as OpenAI counts).
MESSAGE_OVERHEAD_TOKENS = 4


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Text of the model's thinking, shown apart from the answer."""

    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None
    # Of the completion tokens, those spent thinking (when the server says so).
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str


@dataclass(frozen=True, slots=True)
class Queued:
    """The backend is busy with someone else's reply; this one waits its turn."""

    position: int


StreamEvent = TextDelta | ReasoningDelta | Usage | Finish | Queued


class ProviderError(Exception):
    """A failure a person can read: the message is shown under the partial answer."""


class Provider:
    """One model backend. Subclasses implement `stream`."""

    name = "base"

    def stream(self, *, messages: list[dict], model: str) -> AsyncIterator[StreamEvent]:
        """Yield events for one reply; raise ProviderError on failure.

        Cancelling the iteration (a stop) must end generation upstream.
        """
        raise NotImplementedError

    def default_model(self) -> str:
        raise NotImplementedError

    def list_models(self) -> list[str]:
        """Name the models this backend serves (blocking; callers cache it)."""
        return [self.default_model()]

    async def title(self, *, messages: list[dict], model: str) -> str | None:
        """Ask for a short title of a conversation; None: this backend writes none."""
        return None

    def count_tokens(self, text: str) -> int:
        """Count tokens where the backend sent no usage (a stop, or a server
        that ignores include_usage); about four characters a token."""
        return max(1, round(len(text) / 4)) if text else 0

    def measure(self, messages: list[dict]) -> int:
        """Tokens these messages cost as a prompt."""
        return sum(
            self.count_tokens(str(m.get("content", ""))) + MESSAGE_OVERHEAD_TOKENS
            for m in messages
        )

    def fit_context(self, messages: list[dict]) -> list[dict]:
        """The context this backend is sent: at most CHAT_CONTEXT_TOKENS."""
        return fit(messages, settings.CHAT_CONTEXT_TOKENS, self.measure)

    def max_answer_tokens(self) -> int:
        """The longest answer this backend may write (CHAT_MAX_TOKENS)."""
        return settings.CHAT_MAX_TOKENS

    def estimate_usage(
        self, *, messages: list[dict], text: str, reasoning: str = ""
    ) -> Usage:
        prompt = sum(self.count_tokens(str(m.get("content", ""))) for m in messages)
        thought = self.count_tokens(reasoning)
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=self.count_tokens(text) + thought,
            reasoning_tokens=thought if reasoning else None,
        )


def fit(
    messages: list[dict], budget: int, measure: Callable[[list[dict]], int]
) -> list[dict]:
    """Drop the oldest turns until `measure(messages) <= budget`.

    A leading system message is kept. When the newest message alone is too long,
    its end is kept (the newest words). The one place context is trimmed: every
    backend with its own budget and way of counting.
    """
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system) :]
    while True:
        size = measure(system + turns)
        if size <= budget or not turns:
            return system + turns
        if len(turns) > 1:
            turns = turns[1:]
            continue
        last = turns[-1]
        if len(last["content"]) <= 1:
            return system + turns  # the system prompt alone is over the budget
        keep = max(1, len(last["content"]) * budget // (2 * size))
        turns = [{**last, "content": last["content"][-keep:]}]
