"""Conversations exported as Markdown transcripts or JSON Lines."""

import datetime
import json
import re

from django.db.models import Prefetch, QuerySet

from chat.models import Conversation, Message


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
        "parent_id": message.parent_id,
        "content": message.content,
        "html": message.html,
    }


def conversation_record(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "user": conversation.user.get_username(),
        "model": conversation.model,
        "system_prompt": conversation.system_prompt,
        "current_leaf_id": conversation.current_leaf_id,
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
    ("parent_id", "Follows message"),
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
            f"- System prompt: {_markdown_value(record['system_prompt'])}",
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


EXPORT_FORMATS = {
    "markdown": (export_markdown, "text/markdown", "md"),
    "jsonl": (export_jsonl, "application/jsonl", "jsonl"),
}
