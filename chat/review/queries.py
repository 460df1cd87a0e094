"""Reads for the review pages: lists, filters, transcripts and message search."""

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from chat.models import Conversation, Flag, Message

# Statuses worth a badge on the list: a reply that did not end normally.
PROBLEM_STATUSES = [
    Message.Status.FAILED,
    Message.Status.STOPPED,
    Message.Status.INTERRUPTED,
]


def _message_tokens(prefix: str = ""):
    return Coalesce(F(f"{prefix}prompt_tokens"), Value(0)) + Coalesce(
        F(f"{prefix}completion_tokens"), Value(0)
    )


def open_flags() -> QuerySet[Flag]:
    return Flag.objects.filter(cleared_at__isnull=True)


def conversations_for_review() -> QuerySet[Conversation]:
    """All conversations, with the numbers and badges the review list shows."""
    # Every count comes from the one join on messages; flags are a subquery so
    # that they do not multiply the message rows being summed.
    problem_counts = {
        f"{status}_count": Count("messages", filter=Q(messages__status=status))
        for status in PROBLEM_STATUSES
    }
    return (
        Conversation.objects.select_related("user")
        .annotate(
            message_count=Count("messages"),
            total_tokens=Coalesce(
                Sum(_message_tokens("messages__")),
                Value(0),
                output_field=IntegerField(),
            ),
            **problem_counts,
        )
        .annotate(
            open_flag_count=Coalesce(
                open_flags()
                .filter(conversation=OuterRef("pk"))
                .order_by()
                .values("conversation")
                .annotate(n=Count("pk"))
                .values("n"),
                Value(0),
            )
        )
    )


def conversation_for_review(*, conversation_id) -> Conversation:
    return conversations_for_review().get(pk=conversation_id)


def flags_for_conversation(*, conversation: Conversation) -> QuerySet[Flag]:
    return conversation.flags.select_related("created_by", "cleared_by")


def models_in_use() -> list[str]:
    """Name every model a conversation asked for or a message was answered by."""
    # order_by() drops Meta.ordering, which would otherwise defeat DISTINCT.
    names = set(
        Conversation.objects.order_by().values_list("model", flat=True).distinct()
    )
    names |= set(Message.objects.order_by().values_list("model", flat=True).distinct())
    return sorted(name for name in names if name)


def filter_by_model(queryset: QuerySet, *, model: str) -> QuerySet:
    # Exists, not a join: a join on messages would inflate the list's counts.
    used = Message.objects.filter(conversation=OuterRef("pk"), model=model)
    return queryset.filter(Q(model=model) | Exists(used))


def filter_by_status(queryset: QuerySet, *, status: str) -> QuerySet:
    having = Message.objects.filter(conversation=OuterRef("pk"), status=status)
    return queryset.filter(Exists(having))


def filter_by_flag(queryset: QuerySet, *, state: str) -> QuerySet:
    """Keep conversations with open flags, only cleared ones, or none at all."""
    flags = Flag.objects.filter(conversation=OuterRef("pk"))
    if state == "open":
        return queryset.filter(Exists(flags.filter(cleared_at__isnull=True)))
    if state == "cleared":
        return queryset.filter(Exists(flags)).exclude(
            Exists(flags.filter(cleared_at__isnull=True))
        )
    if state == "none":
        return queryset.exclude(Exists(flags))
    return queryset


def messages_matching(*, text: str) -> QuerySet[Message]:
    """Find messages by their text: full-text search on PostgreSQL, else contains."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # The English parser finds other forms of a word; words of scripts written
        # without spaces (Chinese, Japanese) are no tokens of it: contains finds those.
        return Message.objects.annotate(
            document=SearchVector("content", config="english")
        ).filter(
            Q(document=SearchQuery(text, config="english", search_type="websearch"))
            | Q(content__icontains=text)
        )
    return Message.objects.filter(content__icontains=text)


def search_conversations(queryset: QuerySet, *, text: str) -> QuerySet:
    """Match the title, the owner's username, or the text of any message."""
    text = text.strip()
    if not text:
        return queryset
    in_messages = messages_matching(text=text).values("conversation_id")
    return queryset.filter(
        Q(title__icontains=text)
        | Q(user__username__icontains=text)
        | Q(pk__in=in_messages)
    )
