"""An OpenAI-style call made a conversation: checking it, storing it, forgetting it.

The call's messages become a conversation marked `source="api"`: its system
messages the conversation's system prompt, the earlier messages a chain of stored
messages, and the last one (a user message) goes through `replies.start_reply`
like a message typed on the page, so limits, quota, moderation and usage hold.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from chat.models import Conversation, Message
from chat.providers import get_provider
from chat.replies.errors import ReplyError
from chat.replies.limits import precheck
from chat.replies.turns import title_from

ROLES = ("system", "developer", "user", "assistant")


@dataclass
class Call:
    model: str
    stream: bool
    include_usage: bool
    system_prompt: str
    earlier: list[tuple[str, str]]  # (role, text) before the last message
    content: str  # the last message, the person's


def _bad(message: str) -> ReplyError:
    return ReplyError("bad_request", message)


def _text_of(content) -> str:
    """A message's text: a string, or a list of text parts (nothing else)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text"):
                raise _bad(gettext("Only text content parts are supported."))
            if not isinstance(part.get("text"), str):
                raise _bad(gettext("A text part needs its text."))
            texts.append(part["text"])
        return "\n".join(texts)
    raise _bad(gettext("Each message needs content: text or a list of text parts."))


def parse_call(body) -> Call:
    """Check a /v1/chat/completions body; raise ReplyError("bad_request") if wrong."""
    if not isinstance(body, dict):
        raise _bad(gettext("The body must be a JSON object."))
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad(gettext("Name a model (GET /v1/models lists them)."))
    stream = body.get("stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise _bad(gettext("stream must be true or false; stream_options an object."))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad(gettext("messages must be a non-empty list."))
    system, turns = [], []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise _bad(
                gettext("A message's role must be one of: %(roles)s.")
                % {"roles": ", ".join(ROLES)}
            )
        text = _text_of(message.get("content"))
        if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise ReplyError(
                "too_long",
                gettext("A message may have at most %(limit)s characters.")
                % {"limit": settings.CHAT_MAX_MESSAGE_CHARS},
            )
        if role in ("system", "developer"):
            system.append(text)
        else:
            turns.append((role, text))
    if not turns or turns[-1][0] != "user":
        raise _bad(gettext("The last message must be the user's."))
    # The model sees at most CHAT_HISTORY_MESSAGES of a branch: keep those.
    earlier = turns[:-1][-max(0, settings.CHAT_HISTORY_MESSAGES - 1) :]
    return Call(
        model=model,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        system_prompt="\n\n".join(part for part in system if part.strip()),
        earlier=earlier,
        content=turns[-1][1],
    )


@transaction.atomic
def store_call(user, call: Call, *, htmls: list[str], text_kept: bool) -> int:
    """Store the conversation of a call up to (not including) its last message.

    `htmls` are the earlier assistant messages rendered, in order. The title is
    set here, so no model-written title is asked for.
    """
    # Refuse what the limits would refuse before storing anything; the turn
    # is checked again, for certain, under the profile's lock.
    precheck(user.pk)
    default = get_provider().default_model()
    conversation = Conversation.objects.create(
        user=user,
        source=Conversation.Source.API,
        text_kept=text_kept,
        model="" if call.model == default else call.model,
        system_prompt=call.system_prompt,
        title=title_from(call.content),
    )
    parent = None
    rendered = iter(htmls)
    for role, text in call.earlier:
        parent = Message.objects.create(
            conversation=conversation,
            role=role,
            content=text,
            html=next(rendered) if role == Message.Role.ASSISTANT else "",
            model=call.model if role == Message.Role.ASSISTANT else "",
            parent=parent,
        )
    if parent is not None:
        conversation.current_leaf = parent
        conversation.save(update_fields=["current_leaf"])
    return conversation.pk


def erase_text(conversation_id: int) -> None:
    """Forget what an unstored call said, keeping what it cost (token counts)."""
    with transaction.atomic():
        Message.objects.filter(conversation_id=conversation_id).update(
            content="", html="", error=""
        )
        Conversation.objects.filter(pk=conversation_id).update(
            title="", system_prompt=""
        )
