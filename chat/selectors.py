"""Reads, always scoped to a user: the one place that decides who sees what."""

from django.db.models import Q, QuerySet
from django.http import Http404

from chat.models import Conversation, Message, SharedLink
from chat.replies import tree


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
        .only("id", "title", "updated_at", "pinned", "archived")
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


def shown_branch(
    *, conversation: Conversation, limit: int | None
) -> tuple[list[Message], int]:
    """Return the newest `limit` messages of the branch shown, oldest first, and
    how many of the branch are older; each carries `siblings` (ids, or [])."""
    messages, length = tree.path_messages(
        conversation.pk,
        conversation.current_leaf_id,
        limit=tree.MAX_DEPTH if limit is None else limit,
    )
    siblings = tree.siblings_by_parent(
        conversation.pk, {message.pk: message.parent_id for message in messages}
    )
    for message in messages:
        message.siblings = siblings.get(message.pk, [])
        message.sibling_index = (
            message.siblings.index(message.pk) + 1 if message.siblings else 1
        )
    return messages, length - len(messages)


def streaming_replies(*, conversation_id: int) -> QuerySet[Message]:
    return Message.objects.filter(
        conversation_id=conversation_id,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
    )


def shared_links_for_user(*, user) -> QuerySet[SharedLink]:
    """The links this person made to their conversations, revoked ones included."""
    return SharedLink.objects.filter(
        conversation__in=conversations_for_user(user=user)
    ).select_related("conversation")


def shared_link_for_user(*, user, link_id: int) -> SharedLink:
    try:
        return shared_links_for_user(user=user).get(pk=link_id)
    except SharedLink.DoesNotExist:
        raise Http404("No such link.") from None


def shared_link_by_token(*, token: str) -> SharedLink:
    """The public side: a live link by its token; revoked and unknown alike 404."""
    try:
        return SharedLink.objects.select_related("conversation__user").get(
            token=token, revoked_at__isnull=True
        )
    except SharedLink.DoesNotExist:
        raise Http404("No such link.") from None
