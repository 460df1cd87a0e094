"""Model backends behind one contract; `get_provider()` picks the configured one."""

from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from chat.providers.base import (
    Finish,
    Provider,
    ProviderError,
    Queued,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    Usage,
)

BACKENDS = {
    "openai": "chat.providers.openai.OpenAIProvider",
    "local": "chat.providers.local.LocalProvider",
}

__all__ = [
    "Finish",
    "Provider",
    "ProviderError",
    "Queued",
    "ReasoningDelta",
    "StreamEvent",
    "TextDelta",
    "Usage",
    "default_model",
    "get_provider",
]


@cache
def get_provider() -> Provider:
    """Return the process-wide backend named by CHAT_PROVIDER (or a dotted path)."""
    name = settings.CHAT_PROVIDER
    return import_string(BACKENDS.get(name, name))()


def default_model(conversation=None) -> str:
    """Name the model a conversation's next answer uses: its own, or the backend's."""
    return (conversation and conversation.model) or get_provider().default_model()


@receiver(setting_changed)
def _forget_provider(*, setting, **kwargs):
    # Backends read their settings when built: rebuild after a change (tests).
    if setting.startswith(("CHAT_", "OPENAI_")):
        get_provider.cache_clear()
