"""The one place that builds a client of the configured OpenAI-compatible service.

The chat provider and the moderation backend both talk to OPENAI_BASE_URL with
OPENAI_API_KEY; neither owns the other's client.
"""

import openai
from django.conf import settings


def openai_client(*, sync: bool = False, **options):
    """Build a client of the configured OpenAI-compatible service.

    `sync` gives the blocking client (for code on a worker thread); `options`
    override the timeout and retries for short side requests.
    """
    options = {
        "timeout": settings.CHAT_REQUEST_TIMEOUT_S,
        "max_retries": settings.CHAT_MAX_RETRIES,
        **options,
    }
    cls = openai.OpenAI if sync else openai.AsyncOpenAI
    return cls(
        api_key=settings.OPENAI_API_KEY or "none",
        base_url=settings.OPENAI_BASE_URL or None,
        **options,
    )
