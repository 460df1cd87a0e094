"""Transcript review for staff: who may read, flags, exports, usage and the audit."""

import datetime
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from chat.models import AuditEntry, Conversation, Flag, Message

REVIEW_PERMISSION = "chat.review_transcripts"
# Statuses worth a badge on the list: a reply that did not end normally.
PROBLEM_STATUSES = [
    Message.Status.FAILED,
    Message.Status.STOPPED,
    Message.Status.INTERRUPTED,
]
USAGE_DAYS = 30


def can_review(user) -> bool:
    """Tell whether this user may read transcripts in the admin."""
    return bool(
        user.is_active
        and user.is_staff
        and (
            user.has_perm(REVIEW_PERMISSION) or user.has_perm("chat.view_conversation")
        )
    )


# Reads.


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


def messages_for_review(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("created_at", "id")


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

        return Message.objects.annotate(
            document=SearchVector("content", config="english")
        ).filter(document=SearchQuery(text, config="english", search_type="websearch"))
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


# Flags.


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


# Audit.


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


# Exports.


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def message_record(message: Message) -> dict:
    """Describe one message with all of its metadata, as JSON primitives."""
    return {
        "id": message.pk,
        "role": message.role,
        "status": message.status,
        "created_at": _iso(message.created_at),
        "model": message.model,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "total_tokens": message.total_tokens,
        "ttft_ms": message.ttft_ms,
        "duration_ms": message.duration_ms,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "reply_to": message.reply_to_id,
        "content": message.content,
        "html": message.html,
    }


def conversation_record(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "user": conversation.user.get_username(),
        "model": conversation.model,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
        "messages": [
            message_record(message) for message in conversation.messages.all()
        ],
    }


def conversations_for_export(queryset: QuerySet[Conversation]) -> QuerySet:
    """Load each conversation's user and messages in three queries, not one each."""
    ordered = Message.objects.order_by("created_at", "id")
    return queryset.select_related("user").prefetch_related(
        Prefetch("messages", queryset=ordered)
    )


def export_jsonl(conversations) -> str:
    """One JSON object per line, one line per conversation, messages inside."""
    return "".join(
        json.dumps(conversation_record(conversation), ensure_ascii=False) + "\n"
        for conversation in conversations
    )


def _fence(text: str) -> str:
    # Longer than any backtick run inside, so no message can close it early.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


MARKDOWN_MESSAGE_FIELDS = [
    ("status", "Status"),
    ("created_at", "Time"),
    ("model", "Model"),
    ("prompt_tokens", "Prompt tokens"),
    ("completion_tokens", "Completion tokens"),
    ("total_tokens", "Total tokens"),
    ("ttft_ms", "Time to first token (ms)"),
    ("duration_ms", "Duration (ms)"),
    ("finish_reason", "Finish reason"),
    ("error", "Error"),
]


def _markdown_value(value) -> str:
    if value is None or value == "":
        return "-"
    # A multi-line error would break the list; keep it on one line.
    return " ".join(str(value).split())


def export_markdown(conversations) -> str:
    """A readable transcript; each message's text verbatim in a fenced block."""
    parts = []
    for conversation in conversations:
        record = conversation_record(conversation)
        lines = [
            f"# {_markdown_value(str(conversation))}",
            "",
            f"- Conversation: {record['id']}",
            f"- User: {record['user']}",
            f"- Model: {_markdown_value(record['model'])}",
            f"- Created: {record['created_at']}",
            f"- Messages: {len(record['messages'])}",
            "",
        ]
        for number, message in enumerate(record["messages"], start=1):
            lines += [f"## {number}. {message['role']} (message {message['id']})", ""]
            lines += [
                f"- {label}: {_markdown_value(message[key])}"
                for key, label in MARKDOWN_MESSAGE_FIELDS
            ]
            fence = _fence(message["content"])
            lines += ["", f"{fence}text", message["content"], fence, ""]
        parts.append("\n".join(lines))
    return "\n---\n\n".join(parts)


# Usage.


@dataclass
class Bar:
    day: datetime.date
    total: int
    x: float
    segments: list[dict] = field(default_factory=list)


@dataclass
class Usage:
    days: list[datetime.date]
    rows: list[dict]
    user_totals: dict[str, int]
    day_totals: dict[datetime.date, int]
    total: int
    users: list[str]
    chart: dict


CHART_WIDTH = 720
CHART_HEIGHT = 200
CHART_COLOURS = ["#417690", "#e08e0b", "#5b9e4d", "#b2456e", "#7059a8", "#9c6b30"]


def usage_by_user_and_day(*, days: int = USAGE_DAYS, today=None) -> Usage:
    """Tokens per user per day over the last `days` days, today included."""
    today = today or timezone.localdate()
    first = today - datetime.timedelta(days=days - 1)
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min))
    per_user_day = (
        Message.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("conversation__user__username", "day")
        .annotate(
            prompt=Coalesce(Sum("prompt_tokens"), 0),
            completion=Coalesce(Sum("completion_tokens"), 0),
        )
        .order_by("-day", "conversation__user__username")
    )
    rows = []
    user_totals: dict[str, int] = defaultdict(int)
    day_totals: dict[datetime.date, int] = defaultdict(int)
    by_day: dict[datetime.date, list[tuple[str, int]]] = defaultdict(list)
    for row in per_user_day:
        total = row["prompt"] + row["completion"]
        if not total:
            continue
        username = row["conversation__user__username"]
        rows.append(
            {
                "day": row["day"],
                "user": username,
                "prompt": row["prompt"],
                "completion": row["completion"],
                "total": total,
            }
        )
        user_totals[username] += total
        day_totals[row["day"]] += total
        by_day[row["day"]].append((username, total))
    users = sorted(user_totals)
    all_days = [first + datetime.timedelta(days=n) for n in range(days)]
    return Usage(
        days=all_days,
        rows=rows,
        user_totals={user: user_totals[user] for user in users},
        day_totals=dict(day_totals),
        total=sum(user_totals.values()),
        users=users,
        chart=_chart(all_days, by_day, users),
    )


def _chart(days, by_day, users) -> dict:
    """Lay out one stacked bar per day; the template draws it as inline SVG."""
    colours = {
        user: CHART_COLOURS[n % len(CHART_COLOURS)] for n, user in enumerate(users)
    }
    peak = max((sum(t for _, t in by_day[day]) for day in days), default=0) or 1
    slot = CHART_WIDTH / len(days)
    bars = []
    for n, day in enumerate(days):
        bar = Bar(day=day, total=0, x=round(n * slot + 2, 1))
        y = CHART_HEIGHT
        for user, tokens in sorted(by_day.get(day, [])):
            height = round(tokens / peak * CHART_HEIGHT, 1)
            y = round(y - height, 1)
            bar.segments.append(
                {
                    "user": user,
                    "tokens": tokens,
                    "y": y,
                    "height": height,
                    "colour": colours[user],
                }
            )
            bar.total += tokens
        bars.append(bar)
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "bar_width": round(slot - 4, 1),
        "peak": peak if any(bar.total for bar in bars) else 0,
        "bars": bars,
        "legend": [{"user": user, "colour": colours[user]} for user in users],
    }
