"""Our own JSON: what a person exports, and reads back into the same tree.

{"format": "chatsite", "version": 1, "conversations": [conversation, ...]}, each
conversation as the staff's export describes it (chat/review/exports.py), without
withheld answers: a message that followed one hangs from the withheld answer's
parent instead, and a branch that ended on one ends on its parent.
"""

import datetime

from django.utils.translation import gettext

from chat.models import Conversation, Message
from chat.review.exports import conversation_record
from chat.transfer.records import ImportedConversation, ImportedMessage, ImportFileError

FORMAT = "chatsite"
VERSION = 1


def _nearest_shown(message_id, parents: dict, withheld: set):
    while message_id in withheld:
        message_id = parents.get(message_id)
    return message_id


def person_record(conversation: Conversation) -> dict:
    """A conversation as its owner may take it away: no withheld answer in it."""
    record = conversation_record(conversation)
    del record["user"]
    messages = list(conversation.messages.all())
    parents = {m.pk: m.parent_id for m in messages}
    withheld = {m.pk for m in messages if m.withheld}
    record["messages"] = [
        {**m, "parent_id": _nearest_shown(m["parent_id"], parents, withheld)}
        for m in record["messages"]
        if m["id"] not in withheld
    ]
    record["current_leaf_id"] = _nearest_shown(
        record["current_leaf_id"], parents, withheld
    )
    return record


def document(records: list[dict]) -> dict:
    return {"format": FORMAT, "version": VERSION, "conversations": records}


def _time(value) -> datetime.datetime | None:
    if not value:
        return None
    parsed = datetime.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _count(value) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def _message(raw: dict) -> ImportedMessage:
    key = str(raw["id"])
    parent = raw.get("parent_id")
    parent_key = None if parent is None else str(parent)
    role = raw["role"]
    if role not in (Message.Role.USER, Message.Role.ASSISTANT):
        raise ValueError(f"message {key} has role {role!r}")
    status = raw.get("status") or Message.Status.COMPLETE
    if status not in Message.Status.values or status == Message.Status.STREAMING:
        # An answer that was still streaming when exported is stored as stopped.
        status = Message.Status.STOPPED
    return ImportedMessage(
        key=key,
        parent_key=parent_key,
        role=role,
        content=str(raw.get("content") or ""),
        created_at=_time(raw.get("created_at")),
        status=status,
        model=str(raw.get("model") or "")[:200],
        prompt_tokens=_count(raw.get("prompt_tokens")),
        completion_tokens=_count(raw.get("completion_tokens")),
        ttft_ms=_count(raw.get("ttft_ms")),
        duration_ms=_count(raw.get("duration_ms")),
        finish_reason=str(raw.get("finish_reason") or "")[:32],
        error=str(raw.get("error") or ""),
    )


def _parents_first(messages: list[ImportedMessage]) -> list[ImportedMessage]:
    """The messages in tree order (a file may list them in any order)."""
    by_parent: dict[str | None, list[ImportedMessage]] = {}
    keys = set()
    for message in messages:
        if message.key in keys:
            raise ValueError(f"message {message.key} is listed twice")
        keys.add(message.key)
        by_parent.setdefault(message.parent_key, []).append(message)
    ordered = list(by_parent.get(None, []))
    for message in ordered:  # grows as it goes: breadth first
        ordered.extend(by_parent.get(message.key, []))
    if len(ordered) != len(messages):
        raise ValueError("some messages follow a message that is not in the file")
    return ordered


def _conversation(raw: dict) -> ImportedConversation:
    imported = ImportedConversation(
        title=str(raw.get("title") or "")[:200],
        model=str(raw.get("model") or "")[:200],
        system_prompt=str(raw.get("system_prompt") or ""),
        created_at=_time(raw.get("created_at")),
        updated_at=_time(raw.get("updated_at")),
    )
    imported.messages = _parents_first([_message(m) for m in raw["messages"]])
    known = {m.key for m in imported.messages}
    leaf = raw.get("current_leaf_id")
    imported.current_key = None if leaf is None else str(leaf)
    if imported.current_key is not None and imported.current_key not in known:
        raise ValueError("its current_leaf_id is not one of its messages")
    return imported


def parse_ours(data: dict) -> list[ImportedConversation]:
    if data.get("version") != VERSION:
        raise ImportFileError(
            gettext("This export's version (%(version)s) is not one this site reads.")
            % {"version": data.get("version")}
        )
    conversations = data.get("conversations")
    if not isinstance(conversations, list):
        raise ImportFileError(gettext("This export has no list of conversations."))
    parsed = []
    for number, raw in enumerate(conversations, start=1):
        try:
            parsed.append(_conversation(raw))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ImportFileError(
                gettext(
                    "Conversation %(number)d of the file is malformed (%(problem)s); "
                    "nothing was imported."
                )
                % {"number": number, "problem": exc}
            ) from exc
    return parsed
