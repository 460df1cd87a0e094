"""Flagging a conversation or a message for follow-up, and clearing flags."""

from django.db.models import QuerySet
from django.utils import timezone

from chat.models import Conversation, Flag, Message


def flag_create(
    *,
    conversation: Conversation,
    message: Message | None = None,
    reason: str,
    note: str = "",
    by,
) -> Flag:
    if message is not None and message.conversation_id != conversation.pk:
        raise ValueError("The message belongs to another conversation.")
    return Flag.objects.create(
        conversation=conversation,
        message=message,
        reason=reason,
        note=note,
        created_by=by,
    )


def flags_clear(*, flags: QuerySet[Flag], by) -> int:
    """Clear the open flags among these; return how many were cleared."""
    return flags.filter(cleared_at__isnull=True).update(
        cleared_at=timezone.now(), cleared_by=by
    )
