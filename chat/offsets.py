"""The offset rule that makes deltas idempotent, as pure functions.

A reply's text only grows. Each `reply.delta` carries the code-point `offset` at
which its text starts; a `reply.snapshot` carries all the text so far. Applying
them by these rules, in any order, with duplicates, never duplicates or skips text;
a lost delta shows up as a gap, which a `resync` (answered by a snapshot) repairs.
static/chat/js/offsets.js is the browser's twin of this module: keep them in step.
"""


def apply_delta(text: str, offset: int, delta: str) -> tuple[str, bool]:
    """Apply a delta at its offset; return the new text and whether it left a gap.

    Text the client already has is skipped (a duplicate or an overlap); a delta that
    starts past the end is not applied, and the caller should ask for a resync.
    """
    have = len(text)
    if offset > have:
        return text, True
    return text + delta[have - offset :], False


def apply_snapshot(text: str, snapshot: str) -> str:
    """Take a snapshot unless the text already goes further (a late snapshot)."""
    return snapshot if len(snapshot) >= len(text) else text


def has_gap(text: str, offset: int) -> bool:
    """Tell whether a known offset (heartbeat, done) is past the text: resync then."""
    return offset > len(text)


def apply_events(
    events: list[dict], message_id: int, text: str = "", *, part: str = "answer"
) -> str:
    """Apply one reply's deltas and snapshots from a list of wire events, in order.

    Each part of an answer (its text, its `reasoning`) has offsets of its own: a
    delta's `part` (absent: the answer) says which. Raises `ValueError` on a gap,
    which a client would repair with a resync.
    """
    snapshot_field = "text" if part == "answer" else part
    for event in events:
        if event.get("message_id") != message_id:
            continue
        if event["type"] == "reply.snapshot":
            text = apply_snapshot(text, event.get(snapshot_field, ""))
        elif event["type"] == "reply.delta" and event.get("part", "answer") == part:
            text, gap = apply_delta(text, event["offset"], event["text"])
            if gap:
                raise ValueError(f"gap at offset {event['offset']} (have {len(text)})")
    return text
