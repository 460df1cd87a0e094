"""Reads, always scoped to a user: the one place that decides who sees what."""

from django.db.models import Q, QuerySet
from django.http import Http404

from chat.models import Conversation, Message


def conversations_for_user(*, user) -> QuerySet[Conversation]:
    if not user.is_authenticated:
        return Conversation.objects.none()
    return Conversation.objects.filter(user=user)


def sidebar_conversations(*, user, current: Conversation | None = None):
    """List a user's conversations newest first, leaving out unused new ones."""
    # A conversation gets its title with its first message; "New chat" clicks
    # that were never used stay out of the list (except the one being shown).
    shown = Q(title__gt="")
    if current is not None:
        shown |= Q(pk=current.pk)
    return (
        conversations_for_user(user=user)
        .filter(shown)
        .only("id", "title", "updated_at")
    )


def conversation_for_user(*, user, conversation_id: int) -> Conversation:
    """Fetch one conversation of this user, or raise Http404 (also for others')."""
    try:
        return conversations_for_user(user=user).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


async def aconversation_for_user(*, user, conversation_id: int) -> Conversation:
    try:
        return await conversations_for_user(user=user).aget(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None


def messages_for_conversation(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("created_at", "id")


def recent_messages(
    *, conversation: Conversation, limit: int | None
) -> tuple[list[Message], int]:
    """Return the newest `limit` messages, oldest first, and how many are older."""
    messages = messages_for_conversation(conversation=conversation)
    if limit is None:
        return list(messages), 0
    newest = list(messages.reverse()[: limit + 1])
    if len(newest) <= limit:
        return newest[::-1], 0
    return newest[:limit][::-1], messages.count() - limit


def streaming_replies(*, conversation_id: int) -> QuerySet[Message]:
    return Message.objects.filter(
        conversation_id=conversation_id,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
    )
