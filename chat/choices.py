"""What a person chooses for a conversation: its model and its system prompt.

The models on offer are CHAT_MODELS, or else what the provider lists (the
OpenAI-compatible server's GET /v1/models, the local provider's GGUF file),
cached so that pages do not ask the upstream each time. The default model is
always on offer: it is what a conversation that names none uses.
"""

import logging

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils.formats import number_format
from django.utils.translation import gettext

from chat.models import Conversation
from chat.profiles import profile_for
from chat.providers import ProviderError, get_provider
from chat.replies import wire
from chat.replies.errors import ReplyError

logger = logging.getLogger(__name__)

MODELS_CACHE_S = 300
# A failed listing is retried after this long; meanwhile only the default is offered.
MODELS_RETRY_S = 30
MAX_SYSTEM_PROMPT_CHARS = 8000


def _cache_key() -> str:
    provider = get_provider()
    return f"chat:models:{provider.name}:{settings.OPENAI_BASE_URL}"


def available_models() -> list[str]:
    """The models people may pick, the default first (blocking: cache or request)."""
    default = get_provider().default_model()
    listed = settings.CHAT_MODELS
    if not listed:
        key = _cache_key()
        listed = cache.get(key)
        if listed is None:
            try:
                listed = get_provider().list_models()
                cache.set(key, listed, MODELS_CACHE_S)
            except ProviderError as exc:
                logger.warning("Could not list the models: %s", exc)
                listed = []
                cache.set(key, listed, MODELS_RETRY_S)
    return [default, *(name for name in listed if name != default)]


def conversation_payload(conversation: Conversation) -> dict:
    """The `conversation` frame with everything a tab shows of its settings."""
    return {
        "type": "conversation",
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model or get_provider().default_model(),
        "system_prompt": conversation.system_prompt,
    }


def _text(changes: dict, name: str) -> str | None:
    value = changes.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ReplyError(
            "bad_request", gettext("%(name)s must be text.") % {"name": name}
        )
    if len(value) > MAX_SYSTEM_PROMPT_CHARS:
        raise ReplyError(
            "too_long",
            gettext("A system prompt may have at most %(limit)s characters.")
            % {"limit": number_format(MAX_SYSTEM_PROMPT_CHARS, force_grouping=True)},
        )
    return value.strip()


def store_choices(
    *, user, conversation_id: int, changes: dict, models: list[str]
) -> Conversation:
    """Check every change first, then store them all; raise ReplyError on bad input."""
    model = changes.get("model")
    if model is not None and (not isinstance(model, str) or model not in models):
        raise ReplyError(
            "bad_model", gettext("That model is not offered here. Pick another.")
        )
    system_prompt = _text(changes, "system_prompt")
    default_prompt = _text(changes, "default_system_prompt")
    with transaction.atomic():
        # The consumer already scoped this conversation to the socket's user.
        conversation = Conversation.objects.select_for_update().get(
            pk=conversation_id, user=user
        )
        if model is not None:
            # The default is stored as "": it follows CHAT_MODEL if that changes.
            default = get_provider().default_model()
            conversation.model = "" if model == default else model
        if system_prompt is not None:
            conversation.system_prompt = system_prompt
        conversation.save(update_fields=["model", "system_prompt", "updated_at"])
        if default_prompt is not None:
            profile = profile_for(user)
            profile.system_prompt = default_prompt
            profile.save(update_fields=["system_prompt"])
    return conversation


async def configure(*, user, conversation_id: int, changes: dict) -> None:
    """Store a tab's choices and show them on every tab of the conversation."""
    # Off the database thread: listing the models may ask the upstream.
    models = await sync_to_async(available_models, thread_sensitive=False)()
    conversation = await database_sync_to_async(store_choices)(
        user=user, conversation_id=conversation_id, changes=changes, models=models
    )
    await wire.group_send(conversation_id, conversation_payload(conversation))


def start_conversation(user) -> Conversation:
    """A new conversation of this person, with their default system prompt."""
    return Conversation.objects.create(
        user=user, system_prompt=profile_for(user).system_prompt
    )
