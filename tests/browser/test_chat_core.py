"""The browser's offset rule (static/chat/js/offsets.js) agrees with its Python twin."""

import random

import pytest

from chat.offsets import apply_delta, apply_snapshot
from tests.upstream import EMOJI_TOKENS

pytestmark = pytest.mark.browser

CODER = "👩\u200d💻"  # one glyph, three code points, five UTF-16 units
FRAKTUR = "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522"
# Fraktur "Unicode" above: astral letters: two UTF-16 units each

# (text the client has, offset, delta)
DELTA_CASES = [
    ("", 0, "Hello"),  # the first delta
    ("Hello", 5, ", world"),  # in order
    ("Hello, world", 5, ", world"),  # a duplicate
    ("Hello, wo", 5, ", world"),  # an overlap
    ("Hello", 7, "world"),  # a gap: not applied
    ("Hello", 0, "Hel"),  # old text only
    ("Hello", 0, ""),  # empty
    ("a" + CODER, 4, "b"),  # after a ZWJ sequence, counted in code points
    ("a" + CODER, 6, "b"),  # past the end in code points, inside in UTF-16 units
    ("a" + CODER, 2, "\u200d💻!"),  # an overlap that ends inside the sequence
    (FRAKTUR, 7, " ok"),
    (FRAKTUR, 3, FRAKTUR[3:] + "!"),
    (FRAKTUR, 8, "x"),
    ("🇺🇳", 1, "🇳🏳️\u200d🌈"),  # half a flag already here
    ("café", 4, "\u0301 cafe\u0301"),  # a combining mark starts the delta
    ("漢字", 2, "\U00020000"),
]

SNAPSHOT_CASES = [
    ("", "abc"),
    ("abc", "abcdef"),
    ("abcdef", "abc"),  # late and shorter: kept
    ("abc", "xyz"),  # same length: taken
    ("a" + CODER, "a" + CODER + FRAKTUR),
    ("a" + CODER + FRAKTUR, "a" + CODER),
    (FRAKTUR, "abcdefgh"),  # longer in code points, shorter in UTF-16 units
]

IN_THE_PAGE = """async ([deltas, snapshots]) => {
  const core = await import("/static/chat/js/offsets.js");
  const run = (have, offset, delta) => {
    const r = core.applyDelta(core.newState(have), offset, delta);
    return [r.state.text, r.gap, r.state.length, core.codePointLength(r.state.text)];
  };
  const snap = (have, text) => {
    const r = core.applySnapshot(core.newState(have), text);
    return [r.state.text, r.state.length];
  };
  return [deltas.map(c => run(...c)), snapshots.map(c => snap(...c))];
}"""


def random_cases(seed: int, count: int) -> list[tuple[str, int, str]]:
    """Cuts of an emoji-laden reply at random code points, as a network might."""
    rng = random.Random(seed)
    reply = "".join(EMOJI_TOKENS) * 2
    cases = []
    for _ in range(count):
        have = rng.randint(0, len(reply))
        offset = rng.randint(0, min(len(reply), have + 3))
        end = rng.randint(offset, len(reply))
        cases.append((reply[:have], offset, reply[offset:end]))
    return cases


def test_apply_delta_and_snapshot_agree_with_chat_offsets(page):
    page.goto("/")
    deltas = DELTA_CASES + random_cases(seed=7, count=200)
    in_browser, snapshots = page.evaluate(IN_THE_PAGE, [deltas, SNAPSHOT_CASES])

    for (have, offset, delta), (text, gap, length, counted) in zip(
        deltas, in_browser, strict=True
    ):
        assert (text, gap) == apply_delta(have, offset, delta), (have, offset, delta)
        assert length == counted == len(text)
    for (have, snapshot), (text, length) in zip(SNAPSHOT_CASES, snapshots, strict=True):
        assert text == apply_snapshot(have, snapshot)
        assert length == len(text)
