"""ChatGPT's data export (`conversations.json`) as conversations to import.

Each conversation is a `mapping` of nodes ({id, message, parent, children}), a
tree whose root usually has no message; `current_node` is the leaf of the branch
ChatGPT showed. We keep the user's and the assistant's messages and the tree
between them; system, tool and hidden messages are skipped (their children hang
from the nearest kept ancestor). Parts that are not text become a short note.
"""

import datetime
from collections import deque

from django.utils.translation import gettext

from chat.transfer.records import ImportedConversation, ImportedMessage, ImportFileError

IMAGE_NOTE = "[image omitted]"
FILE_NOTE = "[file omitted]"
TOOL_CALL_NOTE = "[tool call omitted]"
TEXT_TYPES = {"text", "multimodal_text"}
KEPT_ROLES = {"user", "assistant"}


def _time(value) -> datetime.datetime | None:
    if isinstance(value, int | float) and value > 0:
        return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
    return None


def _part_text(part) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        kind = str(part.get("content_type", ""))
        if "image" in kind:
            return IMAGE_NOTE
        if isinstance(part.get("text"), str):
            return part["text"]
        return FILE_NOTE
    return ""


def message_text(message: dict) -> str:
    """A message's content as text, with notes for what is not text."""
    content = message.get("content") or {}
    kind = content.get("content_type", "text")
    if message.get("recipient", "all") not in ("all", None) or kind == "code":
        return TOOL_CALL_NOTE
    if kind not in TEXT_TYPES:
        return f"[{kind} omitted]"
    parts = content.get("parts") or []
    if not isinstance(parts, list):
        raise ValueError("parts is not a list")
    text = "\n\n".join(t for t in (_part_text(p) for p in parts) if t)
    attachments = (message.get("metadata") or {}).get("attachments") or []
    if attachments and FILE_NOTE not in text and IMAGE_NOTE not in text:
        text = "\n\n".join(filter(None, [text, FILE_NOTE]))
    return text


def _kept(message: dict | None) -> bool:
    if not message:
        return False
    role = (message.get("author") or {}).get("role")
    hidden = (message.get("metadata") or {}).get("is_visually_hidden_from_conversation")
    return role in KEPT_ROLES and not hidden and message.get("weight", 1) != 0


def _conversation(raw: dict) -> ImportedConversation:
    mapping = raw.get("mapping")
    if not isinstance(mapping, dict):
        raise ValueError("no mapping")
    created = _time(raw.get("create_time"))
    imported = ImportedConversation(
        title=str(raw.get("title") or "")[:200],
        created_at=created,
        updated_at=_time(raw.get("update_time")) or created,
    )
    roots = [k for k, n in mapping.items() if n.get("parent") not in mapping]
    kept_ancestor: dict[str, str | None] = {}
    # Breadth first from the roots: every parent is placed before its children.
    queue = deque((root, None) for root in roots)
    while queue:
        node_id, above = queue.popleft()
        if node_id in kept_ancestor:
            raise ValueError("a node appears twice in the tree")
        node = mapping[node_id]
        message = node.get("message")
        text = message_text(message) if _kept(message) else ""
        if text.strip():
            author = message["author"]["role"]
            imported.messages.append(
                ImportedMessage(
                    key=node_id,
                    parent_key=above,
                    role=author,
                    content=text,
                    created_at=_time(message.get("create_time")) or created,
                    model=str((message.get("metadata") or {}).get("model_slug") or ""),
                )
            )
            above = node_id
        kept_ancestor[node_id] = above
        queue.extend(
            (child, above) for child in node.get("children") or [] if child in mapping
        )
    current = raw.get("current_node")
    imported.current_key = kept_ancestor.get(current) if current else None
    return imported


def parse_chatgpt(data: list) -> list[ImportedConversation]:
    conversations = []
    for number, raw in enumerate(data, start=1):
        try:
            if not isinstance(raw, dict):
                raise ValueError("not an object")
            conversations.append(_conversation(raw))
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            title = raw.get("title", "") if isinstance(raw, dict) else ""
            raise ImportFileError(
                gettext(
                    "Conversation %(number)d (“%(title)s”) of the ChatGPT export "
                    "is malformed (%(problem)s); nothing was imported."
                )
                % {"number": number, "title": title, "problem": exc}
            ) from exc
    return conversations
