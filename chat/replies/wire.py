"""The wire: frames as the page reads them, and the groups they travel through.

Every frame is JSON-encoded once, by whoever sends it; consumers forward the
encoded text verbatim (`chat.frame` events), to however many sockets.
"""

import orjson

from chat import fanout
from chat.models import Message

# The two parts of an answer, as `reply.delta`'s `part` names them.
ANSWER, REASONING = "answer", "reasoning"


def group_name_for(conversation_id: int) -> str:
    """Name the channel-layer group of one conversation (integer ids only)."""
    return f"chat.conversation.{int(conversation_id)}"


def frame(payload: dict) -> str:
    # orjson: a frame per token, encoded in a fifth of json.dumps's time
    # (bench/README.md, figure 7); compact UTF-8, as the page reads it.
    return orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode()


FRAME_EVENT = "chat.frame"


def encoded_event(encoded: str, where: dict | None = None) -> dict:
    """An encoded frame as a channel-layer event that followers forward verbatim;
    `where` says where it goes (the hub's `conversation`, `to`, `from`)."""
    return {"type": FRAME_EVENT, "frame": encoded, **(where or {})}


def frame_event(payload: dict) -> dict:
    """Encode a wire payload as such an event."""
    return encoded_event(frame(payload))


def message_payload(message: Message) -> dict:
    """Describe a stored message as the `message` field of a `message` frame."""
    return {
        "id": message.pk,
        "parent_id": message.parent_id,
        "role": message.role,
        "content": message.shown_content,
        "html": message.html,
        "status": message.status,
        "model": message.model,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        **reasoning_fields(message),
    }


def reasoning_fields(message: Message) -> dict:
    """The thinking part of an answer, for `message` and `reply.done` frames."""
    return {
        "reasoning": message.shown_reasoning,
        "reasoning_html": "" if message.withheld else message.reasoning_html,
        "reasoning_ms": message.reasoning_ms,
        "reasoning_tokens": message.reasoning_tokens,
    }


def user_message_payload(message: Message) -> dict:
    """A person's message as it was stored; `client_id` lets its tab match it up."""
    return {
        "type": "message",
        "message": message_payload(message),
        "client_id": message.client_id,
    }


def error_payload(code: str, message: str, **extra) -> dict:
    return {"type": "error", "code": code, "message": message, **extra}


def done_payload(message: Message) -> dict:
    return {
        "type": "reply.done",
        "message_id": message.pk,
        "status": message.status,
        "html": message.html,
        "usage": (
            {
                "prompt_tokens": message.prompt_tokens,
                "completion_tokens": message.completion_tokens,
            }
            if message.completion_tokens is not None
            else None
        ),
        "ttft_ms": message.ttft_ms,
        "duration_ms": message.duration_ms,
        "finish_reason": message.finish_reason,
        "error": message.error,
        "model": message.model,
        **reasoning_fields(message),
    }


def snapshot_payload(
    message_id: int, text: str, *, upto: int = 0, html: str = "", reasoning: str = ""
) -> dict:
    """All text sent so far of both parts (`reasoning` only when there is some);
    `html` renders the answer's settled blocks, up to `upto`."""
    payload = {
        "type": "reply.snapshot",
        "message_id": message_id,
        "text": text,
        "upto": upto,
        "html": html,
    }
    if reasoning:
        payload["reasoning"] = reasoning
    return payload


def delta_payload(message_id: int, part: str, offset: int, text: str) -> dict:
    """Text of one part at its code-point offset; the answer's carries no `part`,
    so clients that know no reasoning read it as before."""
    payload = {
        "type": "reply.delta",
        "message_id": message_id,
        "offset": offset,
        "text": text,
    }
    if part != ANSWER:
        payload["part"] = part
    return payload


def blocks_payload(message_id: int, offset: int, upto: int, html: str) -> dict:
    """Newly settled blocks: the text from `offset` to `upto`, rendered, to append."""
    return {
        "type": "reply.blocks",
        "message_id": message_id,
        "offset": offset,
        "upto": upto,
        "html": html,
    }


async def group_send(conversation_id: int, payload: dict) -> None:
    """Send a frame to every follower of a conversation, on every process, through
    this process's hub (chat/fanout.py)."""
    await fanout.hub().publish(conversation_id, frame(payload))


def address(channel: str, key: int) -> str:
    """Where frames for one follower go: its hub's channel and its key there."""
    return f"{channel}#{key}"


async def send_to(address: str, payload: dict) -> None:
    """Send a frame to one follower (a `reply_to`), on whichever process it lives."""
    await fanout.hub().send_to(address, frame(payload))
