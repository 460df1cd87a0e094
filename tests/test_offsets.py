"""The offset rule: deltas by code-point offset, snapshots, gaps and resync."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chat.offsets import apply_delta, apply_events, apply_snapshot, has_gap

FAMILY = "👨\u200d👩\u200d👧"  # one glyph, five code points, eight UTF-16 units


def test_a_delta_at_the_end_is_appended():
    assert apply_delta("Hello", 5, ", world") == ("Hello, world", False)


def test_a_duplicate_delta_changes_nothing():
    assert apply_delta("Hello, world", 5, ", world") == ("Hello, world", False)


def test_an_overlapping_delta_adds_only_what_is_new():
    assert apply_delta("Hello, wo", 5, ", world") == ("Hello, world", False)


def test_a_delta_past_the_end_is_a_gap_and_is_not_applied():
    assert apply_delta("Hello", 7, "world") == ("Hello", True)


def test_offsets_count_code_points_not_utf16_units():
    text, gap = apply_delta("a" + FAMILY, 6, "b")
    assert (text, gap) == ("a" + FAMILY + "b", False)
    assert apply_delta("a" + FAMILY, 9, "b") == ("a" + FAMILY, True)


def test_a_late_shorter_snapshot_does_not_take_text_back():
    assert apply_snapshot("Hello, world", "Hello") == "Hello, world"
    assert apply_snapshot("Hello", "Hello, world") == "Hello, world"


def test_a_heartbeat_past_the_text_asks_for_a_resync():
    assert has_gap("abc", 4)
    assert not has_gap("abc", 3)


def test_apply_events_follows_one_reply_and_raises_on_a_gap():
    events = [
        {"type": "reply.snapshot", "message_id": 1, "text": "ab"},
        {"type": "reply.delta", "message_id": 2, "offset": 0, "text": "other"},
        {"type": "reply.delta", "message_id": 1, "offset": 1, "text": "bc"},
    ]
    assert apply_events(events, 1) == "abc"
    gap = [{"type": "reply.delta", "message_id": 1, "offset": 4, "text": "x"}]
    with pytest.raises(ValueError, match="gap at offset 4"):
        apply_events(gap, 1, "abc")


def split(text: str, cuts: list[int]) -> list[tuple[int, str]]:
    """Cut a text into (offset, delta) pairs at the given positions."""
    points = sorted({c for c in cuts if 0 < c < len(text)})
    bounds = [0, *points, len(text)]
    return [(a, text[a:b]) for a, b in itertools.pairwise(bounds) if b > a]


class Client:
    """A tab applying what the network hands it, asking resync on a gap."""

    def __init__(self):
        self.text = ""
        self.resyncs = 0

    def delta(self, offset: int, delta: str) -> bool:
        self.text, gap = apply_delta(self.text, offset, delta)
        return gap

    def snapshot(self, text: str) -> None:
        self.text = apply_snapshot(self.text, text)


@settings(max_examples=400, deadline=None)
@given(
    final=st.text(max_size=60),
    cuts=st.lists(st.integers(min_value=1, max_value=59), max_size=30),
    data=st.data(),
)
def test_any_mix_of_splits_duplicates_reordering_and_drops_ends_in_the_final_text(
    final, cuts, data
):
    deltas = split(final, cuts)
    assert "".join(d for _, d in deltas) == final
    emitted = 0  # deltas the server has sent so far
    in_flight: list[tuple] = []  # what the network still holds, in any order
    client = Client()

    def sent_text() -> str:
        return "".join(d for _, d in deltas[:emitted])

    def resync() -> None:
        # The run answers with the text up to the last offset it sent.
        client.resyncs += 1
        in_flight.append(("snapshot", sent_text()))

    for _ in range(data.draw(st.integers(0, 4 * len(deltas) + 4), label="steps")):
        moves = ["emit"] if emitted < len(deltas) else []
        moves += ["deliver", "duplicate", "drop"] if in_flight else []
        moves += ["heartbeat"]
        move = data.draw(st.sampled_from(moves), label="move")
        if move == "emit":
            in_flight.append(("delta", *deltas[emitted]))
            emitted += 1
        elif move == "heartbeat":
            in_flight.append(("heartbeat", len(sent_text())))
        else:
            index = data.draw(st.integers(0, len(in_flight) - 1), label="which")
            item = in_flight[index] if move == "duplicate" else in_flight.pop(index)
            if move == "drop":
                continue
            kind, *args = item
            if kind == "delta" and client.delta(*args):
                resync()
            elif kind == "snapshot":
                client.snapshot(*args)
            elif kind == "heartbeat" and has_gap(client.text, *args):
                resync()
        # Whatever happened, the text shown is a prefix of the answer: no duplicate,
        # no hole.
        assert final.startswith(client.text)

    # The stream ends; a silent client resyncs, and the snapshot may be late but
    # is not lost for ever.
    emitted = len(deltas)
    resync()
    for kind, *args in reversed(in_flight):
        if kind == "snapshot":
            client.snapshot(*args)
        elif kind == "delta":
            client.delta(*args)
        assert final.startswith(client.text)
    assert client.text == final


def test_each_part_of_an_answer_applies_only_its_own_deltas_and_snapshot_field():
    events = [
        {
            "type": "reply.delta",
            "message_id": 1,
            "offset": 0,
            "text": "Hmm",
            "part": "reasoning",
        },
        {"type": "reply.delta", "message_id": 1, "offset": 0, "text": "Hi"},
        {
            "type": "reply.snapshot",
            "message_id": 1,
            "text": "Hi",
            "reasoning": "Hmm, ok",
        },
        {
            "type": "reply.delta",
            "message_id": 1,
            "offset": 7,
            "text": ".",
            "part": "reasoning",
        },
        {"type": "reply.delta", "message_id": 1, "offset": 2, "text": "!"},
    ]

    assert apply_events(events, 1) == "Hi!"
    assert apply_events(events, 1, part="reasoning") == "Hmm, ok."
