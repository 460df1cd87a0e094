"""The contract every model backend meets: stream text deltas, then usage and finish."""

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str


@dataclass(frozen=True, slots=True)
class Queued:
    """The backend is busy with someone else's reply; this one waits its turn."""

    position: int


StreamEvent = TextDelta | Usage | Finish | Queued


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

    def estimate_usage(self, *, messages: list[dict], text: str) -> Usage:
        prompt = sum(self.count_tokens(str(m.get("content", ""))) for m in messages)
        return Usage(prompt_tokens=prompt, completion_tokens=self.count_tokens(text))
