"""Replies: the entry points the consumer, views and commands call.

A send stores a turn (`turns`), starts a run (`run`) that streams frames
(`wire`) paced by the throttle (`throttle`); limits (`limits`) refuse a turn
before anything is stored; the reaper (`reaper`) ends answers whose process died.
"""

import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext

from chat import dbthreads
from chat.layers import forget_channel
from chat.models import Message
from chat.moderation import ModerationUnavailable, get_moderator, moderate
from chat.replies import titles, tree, turns, wire
from chat.replies.errors import ReplyError
from chat.replies.reaper import areap_replies, ensure_reaper, reap_replies, tell_reaped
from chat.replies.run import local_run, spawn
from chat.replies.turns import Turn

logger = logging.getLogger(__name__)

__all__ = [
    "ReplyError",
    "Turn",
    "areap_replies",
    "edit_reply",
    "ensure_reaper",
    "local_run",
    "reap_replies",
    "regenerate_reply",
    "send_snapshot",
    "send_snapshot_of",
    "start_reply",
    "stop_reply",
    "switch_branch",
    "tell_reaped",
]


def _checked_content(content: str) -> str:
    content = content.strip()
    if not content:
        raise ReplyError("empty", gettext("Type a message first."))
    if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ReplyError(
            "too_long",
            gettext(
                "That message is too long (%(length)s characters; the limit is "
                "%(limit)s)."
            )
            % {
                "length": number_format(len(content), force_grouping=True),
                "limit": number_format(
                    settings.CHAT_MAX_MESSAGE_CHARS, force_grouping=True
                ),
            },
        )
    return content


async def start_reply(
    *,
    conversation_id: int,
    content: str,
    client_id: str | None = None,
    edit_of: int | None = None,
) -> Turn:
    """Store the person's message and an empty answer, then run the answer.

    With `edit_of`, the message is an edit of that user message (`edit_reply`).
    """
    content = _checked_content(content)
    verdict = await _moderated(conversation_id, content)
    if verdict.flagged:
        logger.warning("Moderation refused a message (%s)", verdict.describe())
        raise ReplyError(
            "moderated",
            gettext(
                "Moderation flagged this message (%(reason)s), so it was not sent "
                "to the model."
            )
            % {"reason": verdict.describe()},
        )
    turn = await _stored_with_a_run_channel(
        turns.store_turn,
        conversation_id=conversation_id,
        content=content,
        client_id=client_id,
        edit_of=edit_of,
    )
    if turn.reply is None:
        return turn
    await wire.group_send(conversation_id, wire.user_message_payload(turn.user_message))
    if edit_of is not None:
        # A new branch: every tab moves to it.
        await tell_path(conversation_id, turn.reply.pk)
    if turn.new_title:
        await wire.group_send(
            conversation_id,
            {"type": "conversation", "id": conversation_id, "title": turn.new_title},
        )
    run = spawn(turn.reply, turn.history)
    if turn.new_title:
        titles.title_after(
            run,
            conversation_id=conversation_id,
            first_title=turn.new_title,
            question=content,
        )
    return turn


async def _stored_with_a_run_channel(store, **arguments) -> Turn:
    """Store a turn with a new channel for its run to listen on.

    When no run starts (a refusal, a retried send) the layer forgets the channel:
    the pub/sub layer would otherwise keep a Redis subscription for each.
    """
    layer = get_channel_layer()
    channel = await layer.new_channel()
    try:
        turn = await dbthreads.parallel(store)(run_channel=channel, **arguments)
    except BaseException:
        await forget_channel(layer, channel)
        raise
    if turn.reply is None:
        await forget_channel(layer, channel)
    return turn


async def _moderated(conversation_id: int, content: str):
    if get_moderator() is None:
        return await moderate(content)
    # Refuse what store_turn would refuse (busy, quota) before spending the
    # moderation service: a flood of sends must not reach it. Nothing is stored
    # before the verdict; store_turn then checks again, under its lock.
    await dbthreads.parallel(turns.check_can_start)(conversation_id)
    try:
        return await moderate(content, gate=True)
    except ModerationUnavailable:
        raise ReplyError(
            "moderation_unavailable",
            gettext(
                "Messages cannot be checked right now, so none reach the model. "
                "Try again in a minute."
            ),
        ) from None


async def regenerate_reply(*, conversation_id: int, message_id) -> Turn:
    """Answer the user message of an earlier answer again, as a new answer."""
    turn = await _stored_with_a_run_channel(
        turns.store_regeneration,
        conversation_id=conversation_id,
        message_id=_checked_id(message_id),
    )
    await tell_path(conversation_id, turn.reply.pk)
    spawn(turn.reply, turn.history)
    return turn


async def edit_reply(
    *, conversation_id: int, message_id, content: str, client_id: str | None = None
) -> Turn:
    """Store an edited user message beside the original, then answer it."""
    return await start_reply(
        conversation_id=conversation_id,
        content=content,
        client_id=client_id,
        edit_of=_checked_id(message_id),
    )


async def switch_branch(*, conversation_id: int, message_id) -> None:
    """Show the branch through a message (a sibling's), on every tab."""
    leaf_id = await database_sync_to_async(tree.store_switch)(
        conversation_id=conversation_id, message_id=_checked_id(message_id)
    )
    await tell_path(conversation_id, leaf_id)


async def tell_path(conversation_id: int, leaf_id: int) -> None:
    """Move every tab of the conversation, on every process, to this branch."""
    payload = await database_sync_to_async(tree.path_payload)(conversation_id, leaf_id)
    await wire.group_send(conversation_id, payload)


# Reaching a run, wherever it lives.


def _checked_id(message_id) -> int:
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise ReplyError("bad_request", gettext("message_id must be a number."))
    return message_id


async def _reply_in(conversation_id: int, message_id) -> Message:
    message = await Message.objects.filter(
        conversation_id=conversation_id,
        pk=_checked_id(message_id),
        role=Message.Role.ASSISTANT,
    ).afirst()
    if message is None:
        raise ReplyError(
            "not_found", gettext("There is no such answer in this conversation.")
        )
    return message


async def stop_reply(*, conversation_id: int, message_id) -> None:
    """Ask the run of an answer to stop, on whichever process it runs."""
    message = await _reply_in(conversation_id, message_id)
    if message.status != Message.Status.STREAMING:
        raise ReplyError("not_running", gettext("That answer has already finished."))
    await get_channel_layer().send(message.run_channel, {"type": "run.stop"})


async def send_snapshot(*, conversation_id: int, message_id, reply_to: str) -> None:
    """Send one socket the text of an answer so far; a finished one also says done."""
    message = await _reply_in(conversation_id, message_id)
    await send_snapshot_of(message, reply_to=reply_to)


async def send_snapshot_of(message: Message, *, reply_to: str) -> None:
    if message.status == Message.Status.STREAMING:
        # The run answers with the text up to the last offset it sent.
        await get_channel_layer().send(
            message.run_channel, {"type": "run.snapshot", "reply_to": reply_to}
        )
        return
    await wire.send_to(
        reply_to,
        wire.snapshot_payload(
            message.pk, message.shown_content, reasoning=message.shown_reasoning
        ),
    )
    await wire.send_to(reply_to, wire.done_payload(message))
