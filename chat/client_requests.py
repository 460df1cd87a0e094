"""What a page asks of a conversation, whichever transport carried it.

The websocket's frames (chat/consumers.py) and the HTTP endpoints (chat/api/sse.py)
call the same functions with the same JSON, so a request means one thing on both.
Each takes the person, a conversation already scoped to them (chat/selectors.py)
and the request's fields; it raises `ReplyError` for anything it refuses.
"""

from django.utils.translation import gettext

from chat import choices, replies

# Requests that cost the server a query or a snapshot, rate limited per client.
CONTROL_TYPES = ("stop", "regenerate", "resync", "switch", "configure")


def check_text_and_client_id(content, client_id) -> None:
    if not isinstance(content, str):
        raise replies.ReplyError("bad_request", gettext("content must be text."))
    if client_id is not None and (
        not isinstance(client_id, str) or not 0 < len(client_id) <= 64
    ):
        raise replies.ReplyError(
            "bad_request", gettext("client_id must be short text.")
        )


async def send(*, user, conversation_id: int, request: dict) -> replies.Turn:
    content = request.get("content")
    client_id = request.get("client_id")
    check_text_and_client_id(content, client_id)
    return await replies.start_reply(
        conversation_id=conversation_id, content=content, client_id=client_id
    )


async def stop(*, user, conversation_id: int, request: dict) -> None:
    await replies.stop_reply(
        conversation_id=conversation_id, message_id=request.get("message_id")
    )


async def regenerate(*, user, conversation_id: int, request: dict) -> replies.Turn:
    return await replies.regenerate_reply(
        conversation_id=conversation_id, message_id=request.get("message_id")
    )


async def edit(*, user, conversation_id: int, request: dict) -> replies.Turn:
    content = request.get("content")
    client_id = request.get("client_id")
    check_text_and_client_id(content, client_id)
    return await replies.edit_reply(
        conversation_id=conversation_id,
        message_id=request.get("message_id"),
        content=content,
        client_id=client_id,
    )


async def switch(*, user, conversation_id: int, request: dict) -> None:
    await replies.switch_branch(
        conversation_id=conversation_id, message_id=request.get("message_id")
    )


async def configure(*, user, conversation_id: int, request: dict) -> None:
    await choices.configure(user=user, conversation_id=conversation_id, changes=request)


# `resync` is not here: it answers on the asker's own channel, which only a
# streaming transport has.
HANDLERS = {
    "send": send,
    "stop": stop,
    "regenerate": regenerate,
    "edit": edit,
    "switch": switch,
    "configure": configure,
}
