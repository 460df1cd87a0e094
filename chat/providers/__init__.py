"""Model backends behind one contract; `get_provider()` picks the configured one."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from chat.providers.base import (
    Finish,
    Provider,
    ProviderError,
    Queued,
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
    "StreamEvent",
    "TextDelta",
    "Usage",
    "get_provider",
]


@cache
def get_provider() -> Provider:
    """Return the process-wide backend named by CHAT_PROVIDER (or a dotted path)."""
    name = settings.CHAT_PROVIDER
    return import_string(BACKENDS.get(name, name))()
