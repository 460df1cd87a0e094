"""Public read-only links to a branch of a conversation, and copying one.

A link stores the leaf of the branch shown when it was made (or last updated):
its page is the path from the root to that leaf, so later messages stay out until
the owner updates the link. Withheld answers never show, whatever the link says.
Making and revoking a link is recorded in the audit log (AuditEntry), the one
immutable record of who exposed or read which conversation.
"""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from chat.models import AuditEntry, Conversation, Message, SharedLink
from chat.replies import tree
from chat.transfer.records import ImportedConversation, ImportedMessage
from chat.transfer.store import store_conversations

TOKEN_BYTES = 24  # 32 URL-safe characters: not guessable, not enumerable


class NothingToShare(Exception):
    """The conversation has no finished message on the branch shown."""

    def __init__(self):
        super().__init__(gettext("There is nothing to share yet."))


def _shareable_leaf(conversation: Conversation) -> Message:
    """The newest message of the branch shown that a visitor may see as it is."""
    path = tree.path_ids(conversation.pk, conversation.current_leaf_id)
    finished = (
        conversation.messages.filter(pk__in=path, withheld=False)
        .exclude(status=Message.Status.STREAMING)
        .values_list("pk", flat=True)
    )
    finished = set(finished)
    for message_id in reversed(path):
        if message_id in finished:
            return conversation.messages.get(pk=message_id)
    raise NothingToShare


def _audit(*, actor, action: str, link: SharedLink, by_staff: bool) -> None:
    AuditEntry.objects.create(
        staff=actor,
        staff_username=actor.get_username(),
        action=action,
        conversation=link.conversation,
        conversation_pk=link.conversation_id,
        conversation_title=link.conversation.title[:200],
        detail=f"link {link.pk} ({'staff' if by_staff else 'owner'})",
    )


def share_create(*, conversation: Conversation, show_name: bool) -> SharedLink:
    """A new link to the branch shown now (the caller checked ownership)."""
    with transaction.atomic():
        link = SharedLink.objects.create(
            conversation=conversation,
            token=secrets.token_urlsafe(TOKEN_BYTES),
            leaf=_shareable_leaf(conversation),
            title=conversation.title,
            show_name=show_name,
        )
        _audit(
            actor=conversation.user,
            action=AuditEntry.Action.SHARE,
            link=link,
            by_staff=False,
        )
    return link


def share_update(*, link: SharedLink) -> SharedLink:
    """Point the link at the branch its conversation shows now."""
    link.leaf = _shareable_leaf(link.conversation)
    link.title = link.conversation.title
    link.updated_at = timezone.now()
    link.save(update_fields=["leaf", "title", "updated_at"])
    return link


def share_revoke(*, link: SharedLink, by, by_staff: bool = False) -> None:
    """Revoke a link for good (its page then 404s); revoking twice does nothing."""
    with transaction.atomic():
        revoked = SharedLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            _audit(
                actor=by, action=AuditEntry.Action.REVOKE, link=link, by_staff=by_staff
            )


def shared_messages(link: SharedLink) -> list[Message]:
    """The snapshot a link shows: the path to its leaf, without withheld answers."""
    path = tree.path_ids(link.conversation_id, link.leaf_id)
    by_id = Message.objects.filter(
        conversation_id=link.conversation_id, withheld=False
    ).in_bulk(path)
    return [
        by_id[message_id]
        for message_id in path
        if message_id in by_id and by_id[message_id].status != Message.Status.STREAMING
    ]


def continue_shared(*, link: SharedLink, user) -> Conversation:
    """Copy a link's snapshot into `user`'s account as a new conversation.

    The copy has the owner's model but not their system prompt (the shared page
    never shows it), nor token counts (the visitor spent none of them).
    """
    messages = shared_messages(link)
    copy = ImportedConversation(
        title=link.title,
        model=link.conversation.model,
        messages=[
            ImportedMessage(
                key=str(m.pk),
                parent_key=str(messages[n - 1].pk) if n else None,
                role=m.role,
                content=m.content,
                html=m.html,
                created_at=m.created_at,
                status=m.status,
                model=m.model,
                ttft_ms=m.ttft_ms,
                duration_ms=m.duration_ms,
                finish_reason=m.finish_reason,
                error=m.error,
            )
            for n, m in enumerate(messages)
        ],
    )
    (stored,) = store_conversations(user, [copy])
    return stored
