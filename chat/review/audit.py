"""Recording which staff member viewed or exported which conversation, or searched."""

from chat.models import AuditEntry, Conversation


def audit_record(
    *, staff, action: str, conversations: list[Conversation], detail: str = ""
) -> list[AuditEntry]:
    return AuditEntry.objects.bulk_create(
        AuditEntry(
            staff=staff,
            staff_username=staff.get_username(),
            action=action,
            conversation=conversation,
            conversation_pk=conversation.pk,
            conversation_title=conversation.title[:200],
            detail=detail,
        )
        for conversation in conversations
    )


def audit_search(*, staff, query: str) -> AuditEntry:
    """Record a search of message text: it reads every conversation at once."""
    return AuditEntry.objects.create(
        staff=staff,
        staff_username=staff.get_username(),
        action=AuditEntry.Action.SEARCH,
        detail=query,
    )
