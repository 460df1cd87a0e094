"""A person's own export: one conversation, or all of theirs in a zip.

JSON keeps everything needed to import it back into the same tree (see ours.py).
Markdown is for reading: the branch the conversation shows, message by message.
Withheld answers are in neither (staff exports, chat/review/exports.py, keep them).
"""

import io
import json
import re
import zipfile

from django.db.models import Prefetch, QuerySet

from chat.models import Conversation, Message
from chat.review.exports import _fence
from chat.transfer import ours

CHUNK = 200  # conversations loaded (with their messages) at a time


def _chunks(queryset: QuerySet[Conversation]):
    """Each conversation with its messages, a few hundred at a time."""
    ids = list(queryset.order_by("-updated_at", "-id").values_list("pk", flat=True))
    # By id: a parent is always stored before its children (imports keep older
    # times, so created_at need not follow the tree).
    ordered = Message.objects.order_by("id")
    for start in range(0, len(ids), CHUNK):
        batch = Conversation.objects.filter(pk__in=ids[start : start + CHUNK])
        by_id = (
            batch.select_related("user")
            .prefetch_related(Prefetch("messages", queryset=ordered))
            .in_bulk()
        )
        yield from (by_id[pk] for pk in ids[start : start + CHUNK])


def conversation_json(conversation: Conversation) -> str:
    (loaded,) = _chunks(Conversation.objects.filter(pk=conversation.pk))
    document = ours.document([ours.person_record(loaded)])
    return json.dumps(document, ensure_ascii=False, indent=1)


def _branch(conversation: Conversation) -> list[Message]:
    """The branch shown, from the loaded messages, without withheld answers."""
    by_id = {m.pk: m for m in conversation.messages.all()}
    path, at = [], conversation.current_leaf_id
    while at is not None and at in by_id:
        path.append(by_id[at])
        at = by_id[at].parent_id
    return [m for m in reversed(path) if not m.withheld]


def markdown(conversation: Conversation) -> str:
    lines = [f"# {conversation.title or 'Conversation'}", ""]
    if conversation.system_prompt:
        lines += ["> System prompt:", ""]
        lines += [f"> {line}" for line in conversation.system_prompt.splitlines()]
        lines += [""]
    for message in _branch(conversation):
        who = "You" if message.role == Message.Role.USER else "Assistant"
        if message.role == Message.Role.ASSISTANT and message.model:
            who += f" ({message.model})"
        lines += [f"## {who}", "", f"*{message.created_at:%Y-%m-%d %H:%M} UTC*", ""]
        if message.role == Message.Role.USER:
            # A person's words verbatim, not read as Markdown.
            fence = _fence(message.content)
            lines += [f"{fence}text", message.content, fence, ""]
        else:
            lines += [message.content, ""]
    return "\n".join(lines)


def conversation_markdown(conversation: Conversation) -> str:
    (loaded,) = _chunks(Conversation.objects.filter(pk=conversation.pk))
    return markdown(loaded)


def filename(conversation: Conversation, extension: str) -> str:
    slug = re.sub(r"[^\w-]+", "-", conversation.title, flags=re.UNICODE).strip("-")
    return f"{conversation.pk}-{slug[:60] or 'conversation'}.{extension}"


def all_zip(queryset: QuerySet[Conversation], fmt: str) -> bytes:
    """Every conversation: JSON as one conversations.json (imports back as it
    is), Markdown as one file each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if fmt == "json":
            records = [ours.person_record(c) for c in _chunks(queryset)]
            archive.writestr(
                "conversations.json",
                json.dumps(ours.document(records), ensure_ascii=False),
            )
        else:
            for conversation in _chunks(queryset):
                archive.writestr(filename(conversation, "md"), markdown(conversation))
    return buffer.getvalue()
