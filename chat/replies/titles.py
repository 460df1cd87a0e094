"""A title written by the model, after the first answer of a conversation.

The first line of the first message titles a conversation at once (turns.py);
once the first answer is stored, a separate short request asks the model for a
better one. It never delays the answer: it starts after the run has finished.
On any failure the first-line title stays; a title the person has changed
meanwhile is never overwritten. Off with CHAT_MODEL_TITLES=false, and the local
provider writes none (it would queue behind people's answers).
"""

import asyncio
import logging

from django.conf import settings

from chat.models import Conversation, Message
from chat.providers import ProviderError, get_provider
from chat.replies import wire
from chat.replies.turns import title_from
from chat.tasks import detached_task

logger = logging.getLogger(__name__)

PROMPT = (
    "Write a short title (at most six words) for the conversation below. "
    "Answer with the title alone: no quotes, no final full stop."
)
# Enough of each message for a title; the request stays short.
EXCERPT_CHARS = 2000

QUOTES = "\"'`*\u201c\u201d\u2018\u2019"

# Strong references: asyncio keeps only weak ones.
_tasks: set[asyncio.Task] = set()


def title_after(run, *, conversation_id: int, first_title: str, question: str):
    """Once this run (a conversation's first answer) has finished, ask for a title."""
    if not settings.CHAT_MODEL_TITLES:
        return None
    task = detached_task(
        _title(run, conversation_id, first_title, question),
        name=f"title-{conversation_id}",
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


def clean_title(text: str) -> str:
    """One line of plain words, as long as a first-line title at most."""
    return title_from(text).strip(QUOTES).rstrip(".").strip()


async def _title(run, conversation_id: int, first_title: str, question: str) -> None:
    await run.finished()
    # The run stored the answer: its text and status need no second read.
    if run.final_status != Message.Status.COMPLETE:
        return  # stopped, failed or reaped: the first-line title stays
    messages = [
        {"role": "system", "content": PROMPT},
        {"role": "user", "content": question[:EXCERPT_CHARS]},
        {"role": "assistant", "content": run.text_so_far()[:EXCERPT_CHARS]},
    ]
    try:
        title = clean_title(
            await get_provider().title(messages=messages, model=run.model) or ""
        )
    except ProviderError as exc:
        logger.info("No model title for conversation %s: %s", conversation_id, exc)
        return
    except Exception:
        logger.exception("Titling conversation %s failed", conversation_id)
        return
    if not title or title == first_title:
        return
    # Only over the first-line title: a name the person gave it stays.
    updated = await Conversation.objects.filter(
        pk=conversation_id, title=first_title
    ).aupdate(title=title)
    if updated:
        payload = {"type": "conversation", "id": conversation_id, "title": title}
        await wire.group_send(conversation_id, payload)
