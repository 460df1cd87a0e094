"""The database side of a reply: storing a turn, the history it answers, the end.

A turn is a person's message and the empty answer that will hold the reply, stored
in one transaction; the unique constraints decide "busy" and retried sends. These
are sync functions: the run calls them through `database_sync_to_async`.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.models import Conversation, Flag, Message
from chat.providers import default_model, get_provider
from chat.replies.errors import ReplyError, busy
from chat.replies.limits import check_new_answer


@dataclass
class Turn:
    user_message: Message
    reply: Message | None  # None when the send was a retry of a stored client_id
    history: list[dict]
    new_title: str = ""  # set when this message titled the conversation


def title_from(content: str) -> str:
    """Title a conversation with the first line of its first message, sans Markdown."""
    first_line = content.strip().splitlines()[0] if content.strip() else ""
    first_line = first_line.lstrip("#>*-+ \t").strip() or first_line
    return first_line[:60] + ("…" if len(first_line) > 60 else "")


def history_for(conversation: Conversation, *, up_to: Message) -> list[dict]:
    """Build the model's messages: the conversation up to a user message.

    Of several answers to one user message (regenerated ones), the newest with
    text counts; answers that produced nothing are left out. The backend's
    `fit_context` then bounds it to CHAT_CONTEXT_TOKENS.
    """
    history: list[dict] = []
    if settings.CHAT_SYSTEM_PROMPT:
        history.append({"role": "system", "content": settings.CHAT_SYSTEM_PROMPT})
    answered: dict[int, int] = {}  # user message id -> index of its answer
    # Plain tuples of the three columns used: no model instances (and their
    # init signals) per row, and no rendered HTML read for nothing.
    recent = (
        conversation.messages.filter(id__lte=up_to.pk)
        .order_by("-id")
        .values_list("role", "content", "reply_to_id")[: settings.CHAT_HISTORY_MESSAGES]
    )
    for role, content, reply_to_id in reversed(recent):
        if role == Message.Role.ASSISTANT:
            if not content:
                continue
            if reply_to_id in answered:
                history[answered[reply_to_id]]["content"] = content
                continue
            answered[reply_to_id] = len(history)
        history.append({"role": role, "content": content})
    return get_provider().fit_context(history)


def store_turn(
    *, conversation_id: int, content: str, client_id: str | None, run_channel: str
) -> Turn:
    """Store a person's message and its empty answer; a retried send stores nothing."""
    # The unique constraints decide (one streaming reply per conversation, one
    # message per client_id): no exists()/first() checks on the common path.
    try:
        with transaction.atomic():
            # The row lock serialises sends to one conversation across processes.
            conversation = Conversation.objects.select_for_update().get(
                pk=conversation_id
            )
            user_message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.USER,
                content=content,
                client_id=client_id or None,
            )
            history = history_for(conversation, up_to=user_message)
            reply = _create_reply(conversation, user_message, run_channel, history)
            # After the inserts, so a retried send and "busy" still come first;
            # a refusal (ReplyError) rolls them back.
            check_new_answer(conversation.user_id, reply)
            new_title = "" if conversation.title else title_from(content)
            conversation.title = conversation.title or new_title
            conversation.save(update_fields=["title", "updated_at"])
            return Turn(
                user_message=user_message,
                reply=reply,
                history=history,
                new_title=new_title,
            )
    except IntegrityError:
        # A retried send (its client_id is stored) or an answer still streaming.
        if client_id:
            stored = Message.objects.filter(
                conversation_id=conversation_id, client_id=client_id
            ).first()
            if stored is not None:
                return Turn(user_message=stored, reply=None, history=[])
        raise busy() from None


def store_regeneration(
    *, conversation_id: int, message_id: int, run_channel: str
) -> Turn:
    """Store a new empty answer to the user message an earlier answer answered."""
    try:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(
                pk=conversation_id
            )
            previous = conversation.messages.filter(
                pk=message_id, role=Message.Role.ASSISTANT
            ).first()
            if previous is None or previous.reply_to is None:
                raise ReplyError("not_found", "There is no such answer to regenerate.")
            user_message = previous.reply_to
            history = history_for(conversation, up_to=user_message)
            reply = _create_reply(conversation, user_message, run_channel, history)
            check_new_answer(conversation.user_id, reply)
            conversation.save(update_fields=["updated_at"])
            return Turn(user_message=user_message, reply=reply, history=history)
    except IntegrityError:
        # The unique constraint: one streaming answer per conversation.
        raise busy() from None


def _create_reply(
    conversation: Conversation,
    user_message: Message,
    run_channel: str,
    history: list[dict],
) -> Message:
    return Message.objects.create(
        # An estimate until the final write stores the real count: the quota
        # counts a streaming answer at this plus the longest answer allowed.
        prompt_tokens=get_provider().measure(history),
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=default_model(conversation),
        reply_to=user_message,
        run_channel=run_channel,
        heartbeat_at=timezone.now(),
    )


def store_checkpoint(message_id: int, content: str) -> None:
    """Keep the text so far, and say this answer's run is alive."""
    Message.objects.filter(pk=message_id).update(
        content=content, heartbeat_at=timezone.now()
    )


# What the final write stores; the run leaves everything else as it was.
FINAL_FIELDS = (
    "content",
    "html",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "ttft_ms",
    "duration_ms",
    "finish_reason",
    "error",
)


@transaction.atomic
def store_finish(message: Message, *, flag_note: str = "") -> None:
    """Store an answer's end in one UPDATE; a flag note files it for staff review."""
    Message.objects.filter(pk=message.pk).update(
        **{field: getattr(message, field) for field in FINAL_FIELDS},
        run_channel="",
        heartbeat_at=None,
    )
    if flag_note:
        # Put it in the staff's review queue, flagged by no one in particular.
        Flag.objects.create(
            conversation_id=message.conversation_id,
            message_id=message.pk,
            reason=Flag.Reason.HARMFUL,
            note=flag_note,
        )
