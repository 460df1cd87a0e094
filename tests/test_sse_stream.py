"""The event stream's rules on frames alone (no server): held deltas, resuming,
the offset rule, reading Last-Event-ID."""

import json

from chat.api.events import EventStream, parse_last_event_id
from chat.replies import wire
from tests.sse_client import EventParser


def test_a_last_event_id_is_read_as_message_and_offset_or_ignored():
    assert parse_last_event_id("12:340") == (12, 340)
    assert parse_last_event_id("12") is None
    assert parse_last_event_id("a:b") is None
    assert parse_last_event_id("-1:5") is None
    assert parse_last_event_id(None) is None


def chat_frame(**payload) -> dict:
    return wire.frame_event(payload)


async def events_out(stream, *messages) -> list[dict]:
    """What an EventStream writes for these layer messages, parsed."""
    parser, out = EventParser(), []
    for message in messages:
        async for text in stream.handle(message):
            out += parser.feed(text.encode())
    return [{**e, "data": json.loads(e["data"])} for e in out]


def delta(offset: int, text: str, answer: int = 5) -> dict:
    return chat_frame(type="reply.delta", message_id=answer, offset=offset, text=text)


def snapshot(text: str, answer: int = 5) -> dict:
    return chat_frame(**wire.snapshot_payload(answer, text))


async def test_deltas_heard_before_their_snapshot_go_out_once_after_it():
    stream = EventStream(conversation_id=1, user_id=1, session=None)
    stream.awaiting[5] = []  # a snapshot was asked

    out = await events_out(
        stream,
        delta(0, "Hello "),  # covered by the snapshot below
        delta(6, "wor"),  # partly covered
        snapshot("Hello wo"),
        delta(9, "ld"),
    )

    assert [(e["event"], e.get("id")) for e in out] == [
        ("reply.snapshot", "5:8"),
        ("reply.delta", "5:9"),
        ("reply.delta", "5:11"),
    ]
    assert out[1]["data"] == {
        "type": "reply.delta",
        "message_id": 5,
        "offset": 8,
        "text": "r",
    }


async def test_a_resumed_answer_gets_the_missing_text_as_one_delta_then_no_repeat():
    stream = EventStream(conversation_id=1, user_id=1, session=None, resume=(5, 3))
    stream.awaiting[5] = []

    out = await events_out(
        stream, snapshot("abcdefgh"), delta(4, "efgh"), delta(8, "ij")
    )

    assert [(e["data"]["offset"], e["data"]["text"], e["id"]) for e in out] == [
        (3, "defgh", "5:8"),
        (8, "ij", "5:10"),
    ]
