"""The database side of a reply: storing a turn, the history it answers, the end.

A turn is a person's message and the empty answer that will hold the reply, stored
in one transaction; the unique constraints decide "busy" and retried sends. These
are sync functions: the run calls them through `database_sync_to_async`.
"""

from dataclasses import dataclass

import regex
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.utils import translation
from django.utils.translation import gettext

from chat import prepared
from chat.models import Conversation, Flag, Message, Profile
from chat.providers import default_model, get_provider
from chat.replies import tree
from chat.replies.errors import ReplyError, busy
from chat.replies.limits import (
    check_new_answer,
    locked_profile,
    precheck,
    usage_today_in,
)


@dataclass
class Turn:
    user_message: Message
    reply: Message | None  # None when the send was a retry of a stored client_id
    history: list[dict]
    new_title: str = ""  # set when this message titled the conversation


TITLE_GRAPHEMES = 60
TITLE_MAX_CHARS = Conversation._meta.get_field("title").max_length


def title_from(content: str) -> str:
    """Title a conversation with the first line of its first message, sans Markdown.

    Cut by grapheme clusters (what a reader sees as one character: an emoji ZWJ
    sequence, a flag, a letter with its combining marks), never inside one, and
    within the column's length in code points.
    """
    first_line = content.strip().splitlines()[0] if content.strip() else ""
    first_line = first_line.lstrip("#>*-+ \t").strip() or first_line
    graphemes = regex.findall(r"\X", first_line)
    if len(graphemes) <= TITLE_GRAPHEMES and len(first_line) <= TITLE_MAX_CHARS:
        return first_line
    kept, length = [], 0
    for grapheme in graphemes[:TITLE_GRAPHEMES]:
        if length + len(grapheme) > TITLE_MAX_CHARS - 1:  # room for the ellipsis
            break
        kept.append(grapheme)
        length += len(grapheme)
    return "".join(kept) + "…"


def answer_language_instruction() -> str:
    """The sentence CHAT_ANSWER_IN_USER_LANGUAGE adds to the system prompt."""
    info = translation.get_language_info(translation.get_language() or "en")
    return f"Answer in {info['name']}, the language the user reads this site in."


def system_prompt_for(conversation: Conversation) -> str:
    """The conversation's own system prompt, else the site's."""
    return conversation.system_prompt or settings.CHAT_SYSTEM_PROMPT


def history_for(conversation: Conversation, *, up_to: Message) -> list[dict]:
    """Build the model's messages: the system prompt, then the path to a user message.

    Only the branch being answered counts (`tree.path_turns`), newest
    CHAT_HISTORY_MESSAGES of it; answers that produced nothing, or were withheld
    by moderation, are left out. The backend's `fit_context` then bounds it to
    CHAT_CONTEXT_TOKENS.
    """
    history: list[dict] = []
    system_prompt = system_prompt_for(conversation)
    if settings.CHAT_ANSWER_IN_USER_LANGUAGE:
        # The active language is the person's: the consumer activates it.
        system_prompt = " ".join(
            part for part in (system_prompt, answer_language_instruction()) if part
        )
    if system_prompt:
        history.append({"role": "system", "content": system_prompt})
    # Earlier thinking goes back only when the setting asks for it.
    with_reasoning = settings.CHAT_REASONING_IN_HISTORY
    turns = []
    # The path to the message's parent, read from the database, then the message
    # itself from the instance: it need not be stored yet (store_turn stores it
    # with its answer). The first message of a branch is its whole path: no query.
    if up_to.parent_id is not None and settings.CHAT_HISTORY_MESSAGES > 1:
        turns = tree.path_turns(
            conversation.pk,
            up_to.parent_id,
            limit=settings.CHAT_HISTORY_MESSAGES - 1,
            with_reasoning=with_reasoning,
        )
    reasoning = up_to.shown_reasoning if with_reasoning else ""
    turns.append((str(up_to.role), up_to.shown_content, reasoning))
    for role, content, reasoning in turns:
        if role == Message.Role.ASSISTANT and not content:
            continue
        if reasoning:
            content = with_thinking(reasoning, content)
        history.append({"role": role, "content": content})
    return get_provider().fit_context(history)


def with_thinking(reasoning: str, content: str) -> str:
    """An answer's text with its thinking before it, as reasoning models write it.

    In the content, not a `reasoning_content` field: every OpenAI-compatible
    server and chat template takes string content (DeepSeek's API refuses
    `reasoning_content` in requests), and models that think inline read it back.
    """
    return f"<think>\n{reasoning}\n</think>\n\n{content}"


def check_can_start(conversation_id: int) -> None:
    """Refuse early what store_turn would: an answer still streaming, the limits.

    Without a lock: store_turn decides for certain; this only spares work.
    """
    if Message.objects.filter(
        conversation_id=conversation_id, status=Message.Status.STREAMING
    ).exists():
        raise busy()
    precheck(
        Conversation.objects.values_list("user_id", flat=True).get(pk=conversation_id)
    )


def store_turn(
    *,
    conversation_id: int,
    content: str,
    client_id: str | None,
    run_channel: str,
    edit_of: int | None = None,
) -> Turn:
    """Store a person's message and its empty answer; a retried send stores nothing.

    The message continues the branch shown, or with `edit_of` (a user message's
    id) it is an edit of that one: its sibling, starting a branch of its own.
    """
    # The unique constraints decide (one streaming reply per conversation, one
    # message per client_id): no exists()/first() checks on the common path.
    try:
        with transaction.atomic():
            conversation, profile = _locked_with_profile(conversation_id)
            user_message = Message(
                conversation=conversation,
                role=Message.Role.USER,
                content=content,
                client_id=client_id or None,
                parent_id=(
                    conversation.current_leaf_id
                    if edit_of is None
                    else _edited(conversation, edit_of).parent_id
                ),
            )
            history = history_for(conversation, up_to=user_message)
            reply = new_reply(conversation, user_message, run_channel, history)
            new_title = "" if conversation.title else title_from(content)
            conversation.title = conversation.title or new_title
            # Both messages and the conversation's new leaf: one statement on
            # PostgreSQL, where either unique constraint undoes all of it.
            prepared.insert_then_update(
                [user_message, reply],
                conversation,
                ["title", "current_leaf", "updated_at"],
            )
            # After the inserts, so a retried send and "busy" still come first;
            # a refusal (ReplyError) rolls them back.
            check_new_answer(conversation.user_id, reply, profile=profile)
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


def _locked_with_profile(conversation_id: int) -> tuple[Conversation, Profile]:
    """The conversation and its owner's Profile (the limits' lock), row-locked in
    that order, as every transaction takes them: one statement, or two when the
    Profile is still to be made (`locked_profile` makes it).

    The conversation's lock serialises sends to it across processes; the
    Profile's, a person's answers starting in all their conversations."""
    locked = prepared.get_locked_with(
        Conversation, "pk", conversation_id, Profile, "user"
    )
    if locked is not None:
        return locked
    conversation = prepared.get_locked(Conversation, "pk", conversation_id)
    return conversation, locked_profile(conversation.user_id)


def _edited(conversation: Conversation, message_id: int) -> Message:
    original = conversation.messages.filter(
        pk=message_id, role=Message.Role.USER
    ).first()
    if original is None:
        raise ReplyError("not_found", gettext("There is no such message to edit."))
    return original


def store_regeneration(
    *, conversation_id: int, message_id: int, run_channel: str
) -> Turn:
    """Store a new empty answer to the user message an earlier answer answered."""
    try:
        with transaction.atomic():
            conversation, profile = _locked_with_profile(conversation_id)
            previous = (
                conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT)
                .select_related("parent")
                .first()
            )
            if previous is None or previous.parent is None:
                raise ReplyError(
                    "not_found", gettext("There is no such answer to regenerate.")
                )
            # A sibling of the old answer: both stay, the new one is shown.
            user_message = previous.parent
            history = history_for(conversation, up_to=user_message)
            reply = new_reply(conversation, user_message, run_channel, history)
            prepared.insert_then_update(
                [reply], conversation, ["current_leaf", "updated_at"]
            )
            check_new_answer(conversation.user_id, reply, profile=profile)
            return Turn(user_message=user_message, reply=reply, history=history)
    except IntegrityError:
        # The unique constraint: one streaming answer per conversation.
        raise busy() from None


def new_reply(
    conversation: Conversation,
    user_message: Message,
    run_channel: str,
    history: list[dict],
) -> Message:
    """An empty streaming answer to a user message, to store (the user message
    may be unstored yet); the branch now ends there."""
    reply = Message(
        # An estimate until the final write stores the real count: the quota
        # counts a streaming answer at this plus the longest answer allowed.
        prompt_tokens=get_provider().measure(history),
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=default_model(conversation),
        parent=user_message,
        run_channel=run_channel,
        # The database's clock, as the reaper's cutoff: see reaper._stale.
        heartbeat_at=Now(),
    )
    conversation.current_leaf = reply
    return reply


def _still_running(message_id: int, run_channel: str):
    """The answer, only while this run owns it: not reaped, not deleted."""
    return Message.objects.filter(
        pk=message_id, status=Message.Status.STREAMING, run_channel=run_channel
    )


def store_checkpoints(rows: list[tuple[int, str, str, str]]) -> set[int]:
    """Keep the text so far (both parts) of running answers and say their runs are
    alive; return the ids not stored: those answers are no longer these runs'.

    One statement for all the rows (executemany) and one SELECT. Built through the
    ORM (a CASE per column over 200 answers) the round held the GIL ~60 ms against
    the event loop; one conditional UPDATE each cost ~170 ms."""
    if not rows:
        return set()
    table = connection.ops.quote_name(Message._meta.db_table)
    # The database's own clock, as the ORM writes Now() on this backend.
    now, _ = (
        Message.objects.none().query.get_compiler(connection=connection).compile(Now())
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET content = %s, reasoning = %s, heartbeat_at = {now} "
            "WHERE id = %s AND status = %s AND run_channel = %s",
            [
                (content, reasoning, message_id, Message.Status.STREAMING, channel)
                for message_id, channel, content, reasoning in rows
            ],
        )
        still = dict(
            Message.objects.filter(
                pk__in=[message_id for message_id, *_ in rows],
                status=Message.Status.STREAMING,
            ).values_list("pk", "run_channel")
        )
    return {row[0] for row in rows if still.get(row[0]) != row[1]}


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
    "withheld",
    "reasoning",
    "reasoning_html",
    "reasoning_ms",
    "reasoning_tokens",
)


def store_finish_and_usage(
    message: Message, run_channel: str, *, flag_note: str = ""
) -> dict | None:
    """`store_finish`, then the owner's tokens today (this answer included) for
    the usage line: one call on the database thread after each answer, not two.
    None when nothing was stored. The usage is read after the commit, so SQLite's
    write lock is not held for it."""
    if not store_finish(message, run_channel, flag_note=flag_note):
        return None
    return usage_today_in(message.conversation_id)


@transaction.atomic
def store_finish(message: Message, run_channel: str, *, flag_note: str = "") -> bool:
    """Store an answer's end in one UPDATE; a flag note files it for staff review.

    False, storing nothing, when the run no longer owns the answer (reaped or
    deleted): a reaped answer is never overwritten.
    """
    if not _still_running(message.pk, run_channel).update(
        **{field: getattr(message, field) for field in FINAL_FIELDS},
        run_channel="",
        heartbeat_at=None,
    ):
        return False
    if flag_note:
        # Put it in the staff's review queue, flagged by no one in particular.
        Flag.objects.create(
            conversation_id=message.conversation_id,
            message_id=message.pk,
            reason=Flag.Reason.HARMFUL,
            note=flag_note,
        )
    return True
