"""Moderation that works on a stream.

A person's message is checked before it reaches the model; an answer is checked
while it streams (the whole text so far, every CHAT_MODERATION_INTERVAL_S) and once
more when it ends, so a flagged answer is cut off within seconds, not after it is
complete. Off unless CHAT_MODERATION names a backend.
"""

import logging
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from chat.openai_client import openai_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool
    categories: tuple[str, ...] = ()

    def describe(self) -> str:
        return ", ".join(self.categories) or "unspecified"


PASSED = Verdict(flagged=False)


class ModerationUnavailable(Exception):
    """The moderation service failed, and CHAT_MODERATION_FAIL says refuse."""


class Moderator:
    """One moderation backend. Subclasses implement `check`."""

    async def check(self, text: str) -> Verdict:
        raise NotImplementedError


class OpenAIModerator(Moderator):
    """OpenAI's moderation endpoint, at OPENAI_BASE_URL like the chat model."""

    def __init__(self):
        self.client = openai_client()

    async def check(self, text: str) -> Verdict:
        response = await self.client.moderations.create(
            model=settings.CHAT_MODERATION_MODEL, input=text
        )
        result = response.results[0]
        hits = result.categories.model_dump(by_alias=True)
        return Verdict(
            flagged=result.flagged,
            categories=tuple(sorted(name for name, hit in hits.items() if hit)),
        )


BACKENDS = {"openai": "chat.moderation.OpenAIModerator"}


@cache
def get_moderator() -> Moderator | None:
    name = settings.CHAT_MODERATION
    return import_string(BACKENDS.get(name, name))() if name else None


@receiver(setting_changed)
def _forget_moderator(*, setting, **kwargs):
    if setting.startswith(("CHAT_", "OPENAI_")):
        get_moderator.cache_clear()


async def moderate(text: str, *, gate: bool = False) -> Verdict:
    """Check text; a moderation service that fails lets it pass (and says so).

    At the gate (a person's message, before the model sees it) a failure raises
    ModerationUnavailable instead when CHAT_MODERATION_FAIL is "closed". Answers
    are always checked this way, open: they are checked again as they grow.
    """
    moderator = get_moderator()
    if moderator is None or not text.strip():
        return PASSED
    try:
        return await moderator.check(text)
    except Exception:
        if gate and settings.CHAT_MODERATION_FAIL == "closed":
            logger.exception("Moderation failed; refusing the message")
            raise ModerationUnavailable from None
        logger.exception("Moderation failed; letting the text pass")
        return PASSED
