"""Reading an import file and storing its conversations: all of them or none.

The work is in three steps, each reported to `progress(phase, done, total)`:
reading the file, rendering the answers (the server's renderer, in its worker
processes, several at once: it dominates the time) and storing, in one transaction
for the whole file, with a few bulk inserts per tree level.
"""

import io
import json
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from chat.models import Conversation, Message
from chat.render_budget import render_answer
from chat.transfer import chatgpt, ours
from chat.transfer.records import ImportedConversation, ImportFileError

Progress = Callable[[str, int, int], None]

# In a zip (ChatGPT's export, or ours of all conversations), the file we read.
ZIP_MEMBER = "conversations.json"
BATCH = 500


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


def too_big_error() -> ImportFileError:
    return ImportFileError(
        gettext("The file is larger than the import limit of %(mb)d MB.")
        % {"mb": settings.CHAT_IMPORT_MAX_BYTES // 1_000_000}
    )


def _json_bytes(data: bytes) -> bytes:
    """The JSON in an upload: the file itself, or conversations.json in a zip."""
    if not data.startswith(b"PK"):
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.split("/")[-1] == ZIP_MEMBER]
            if not names:
                raise ImportFileError(
                    gettext("The zip file holds no conversations.json.")
                )
            with archive.open(names[0]) as member:
                # Read at most one byte past the limit: a zip bomb stops there.
                inner = member.read(settings.CHAT_IMPORT_MAX_BYTES + 1)
    except zipfile.BadZipFile as exc:
        raise ImportFileError(gettext("The zip file is damaged.")) from exc
    if len(inner) > settings.CHAT_IMPORT_MAX_BYTES:
        raise too_big_error()
    return inner


def parse_file(data: bytes) -> list[ImportedConversation]:
    """Every conversation of an upload, or ImportFileError saying what is wrong."""
    if len(data) > settings.CHAT_IMPORT_MAX_BYTES:
        raise too_big_error()
    try:
        document = json.loads(_json_bytes(data))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ImportFileError(
            gettext("The file is not JSON (or a zip holding conversations.json).")
        ) from exc
    if isinstance(document, list):
        return chatgpt.parse_chatgpt(document)
    if isinstance(document, dict) and document.get("format") == ours.FORMAT:
        return ours.parse_ours(document)
    raise ImportFileError(
        gettext(
            "This is neither ChatGPT's conversations.json nor an export of this site."
        )
    )


def _render_all(conversations, progress: Progress) -> None:
    """Give every answer without HTML its HTML, several renders at once."""
    answers = [
        m
        for c in conversations
        for m in c.messages
        if m.role == Message.Role.ASSISTANT and m.html is None
    ]

    def render(message):
        # An answer that never produced text needs no renderer.
        return render_answer(message.content) if message.content else ""

    progress("render", 0, len(answers))
    workers = max(1, settings.CHAT_RENDER_WORKERS)
    with ThreadPoolExecutor(workers, thread_name_prefix="import-render") as pool:
        for done, (message, html) in enumerate(
            zip(answers, pool.map(render, answers), strict=True), start=1
        ):
            message.html = html
            if done % 50 == 0 or done == len(answers):
                progress("render", done, len(answers))


def _leaf_key(conversation: ImportedConversation) -> str | None:
    """The branch to show: the one the file names, down to a message with no
    children (newest child first); else the newest message."""
    if not conversation.messages:
        return None
    newest_child: dict[str, str] = {}
    for message in conversation.messages:
        if message.parent_key is not None:
            newest_child[message.parent_key] = message.key
    leaf = conversation.current_key or conversation.messages[-1].key
    while leaf in newest_child:
        leaf = newest_child[leaf]
    return leaf


def _text(value: str) -> str:
    # PostgreSQL's text cannot hold NUL; nobody meant to write one.
    return value.replace("\x00", "")


def _store(user, conversations: list[ImportedConversation], progress: Progress):
    now = timezone.now()
    rows = Conversation.objects.bulk_create(
        [
            Conversation(
                user=user,
                title=_text(c.title),
                model=c.model,
                system_prompt=_text(c.system_prompt),
                created_at=c.created_at or now,
            )
            for c in conversations
        ],
        batch_size=BATCH,
    )
    # Message rows by (conversation index, key), inserted a tree level at a time
    # so each parent has its id before its children are written.
    stored: dict[tuple[int, str], Message] = {}
    level = [
        (i, m)
        for i, c in enumerate(conversations)
        for m in c.messages
        if m.parent_key is None
    ]
    children: dict[tuple[int, str], list] = {}
    for i, c in enumerate(conversations):
        for m in c.messages:
            if m.parent_key is not None:
                children.setdefault((i, m.parent_key), []).append(m)
    total = sum(len(c.messages) for c in conversations)
    progress("store", 0, total)
    while level:
        created = Message.objects.bulk_create(
            [
                Message(
                    conversation=rows[i],
                    parent=stored.get((i, m.parent_key)),
                    role=m.role,
                    content=_text(m.content),
                    html=m.html or "",  # user messages have none
                    status=m.status,
                    model=m.model,
                    prompt_tokens=m.prompt_tokens,
                    completion_tokens=m.completion_tokens,
                    ttft_ms=m.ttft_ms,
                    duration_ms=m.duration_ms,
                    finish_reason=m.finish_reason,
                    error=m.error,
                    created_at=m.created_at or rows[i].created_at,
                )
                for i, m in level
            ],
            batch_size=BATCH,
        )
        for (i, m), row in zip(level, created, strict=True):
            stored[(i, m.key)] = row
        progress("store", len(stored), total)
        level = [(i, child) for i, m in level for child in children.get((i, m.key), [])]
    for i, (row, c) in enumerate(zip(rows, conversations, strict=True)):
        leaf = _leaf_key(c)
        row.current_leaf = stored[(i, leaf)] if leaf is not None else None
        row.updated_at = c.updated_at or row.created_at
    # bulk_update writes updated_at as given (a save() would make it "now").
    Conversation.objects.bulk_update(
        rows, ["current_leaf", "updated_at"], batch_size=BATCH
    )
    return rows


def store_conversations(
    user, conversations: list[ImportedConversation], progress: Progress = _no_progress
) -> list[Conversation]:
    """Store conversations for `user` in one transaction: all of them, or none."""
    _render_all(conversations, progress)
    with transaction.atomic():
        return _store(user, conversations, progress)


def import_file(user, data: bytes, progress: Progress = _no_progress):
    """Import an upload for `user`; ImportFileError (nothing stored) if it is bad."""
    progress("read", 0, 0)
    conversations = parse_file(data)
    return store_conversations(user, conversations, progress)
