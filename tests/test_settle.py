"""The settling rule: where a streaming answer's Markdown blocks are final."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat.replies.settle import Settler


def boundaries(*pieces: str) -> list[int]:
    settler = Settler()
    found = []
    for piece in pieces:
        found += settler.feed(piece)
    assert settler.settled == (found[-1] if found else 0)
    return found


def settled_text(text: str) -> list[str]:
    """The text cut at its boundaries: the settled blocks, in order."""
    cuts = [0, *boundaries(text)]
    return [text[a:b] for a, b in pairwise(cuts)]


def test_a_blank_line_settles_the_paragraph_once_the_next_block_begins():
    assert boundaries("# Title\n\n") == []
    assert settled_text("# Title\n\nSome") == ["# Title\n\n"]
    assert settled_text("One.\n\n\n\nTwo.\n\nThree") == ["One.\n\n\n\n", "Two.\n\n"]


def test_a_closed_fence_settles_at_the_end_of_its_closing_line():
    text = "Code:\n```python\nx = 1\n\n\ny = 2\n```\nAfter"
    assert settled_text(text) == ["Code:\n```python\nx = 1\n\n\ny = 2\n```\n"]
    assert boundaries("```python\nx = 1\n```") == []  # the closing line is unfinished


def test_blank_lines_inside_an_open_fence_settle_nothing():
    assert boundaries("```\na\n\nb\n\nc") == []
    assert boundaries("~~~js\na\n\n```\n\nb") == []  # backticks do not close tildes


def test_a_fence_of_four_backticks_closes_only_with_four_or_more():
    assert boundaries("````\na\n```\n\nb\n") == []
    assert settled_text("````\na\n```\n\nb\n`````\nc") == ["````\na\n```\n\nb\n`````\n"]
    assert settled_text("~~~~\na\n~~~\n\n~~~~ \nc") == ["~~~~\na\n~~~\n\n~~~~ \n"]


@pytest.mark.parametrize(
    "line",
    ["``` x", "```a", "- ```", "  ```", "\t```", "> ```"],
    ids=["text-after", "info", "list-marker", "indented", "tab", "quoted"],
)
def test_a_closing_fence_has_nothing_but_the_fence_on_its_line(line):
    assert boundaries(f"```\na\n{line}\n\nb") == []


def test_backticks_in_the_info_string_make_inline_code_not_a_fence():
    assert settled_text("```a`b```\n\nNext") == ["```a`b```\n\n"]


def test_fences_in_list_items_and_quotes_keep_their_blank_lines():
    item = "- Step:\n\n  ```sh\n  make\n\n  make test\n  ```\n\n"
    assert settled_text(item + "Done") == [item]
    quote = "> ```\n> a\n\n> b\n> ```\n"
    assert boundaries(quote) == []  # a nested fence's close settles nothing itself
    assert settled_text(quote + "\nAfter") == [quote + "\n"]
    numbered = "1. Run:\n   ~~~~\n   a\n\n   ~~~\n\nb"
    assert boundaries(numbered) == []


def test_an_indented_line_after_a_blank_one_continues_the_block():
    text = "- item\n\n    more of the item\n\n        code\n\nNext"
    assert settled_text(text) == ["- item\n\n    more of the item\n\n        code\n\n"]


def test_a_table_settles_at_the_blank_line_that_ends_it():
    table = "| a | b |\n| --- | --- |\n| 1 | 2 |\n"
    assert boundaries(table + "| 3 | 4 |\n") == []
    assert settled_text(table + "\nAfter") == [table + "\n"]


def test_whitespace_alone_never_settles():
    assert boundaries("\n\n  \n\nText") == []
    assert boundaries("\r\n\r\nText\r\n\r\nMore") == [len("\r\n\r\nText\r\n\r\n")]


def test_offsets_count_code_points():
    assert boundaries("😀 **ok**\n\nNext") == [len("😀 **ok**\n\n")] == [10]


MARKDOWN_PIECES = st.sampled_from(
    [
        "\n",
        "\n\n",
        " ",
        "    ",
        "\t",
        "\r\n",
        "```",
        "````",
        "~~~",
        "`",
        "python",
        "> ",
        "- ",
        "1. ",
        "| a | b |",
        "| --- |",
        "# Title",
        "text",
        "😀",
    ]
)


@given(st.lists(MARKDOWN_PIECES, max_size=40), st.data())
def test_any_cut_into_deltas_gives_the_same_boundaries(pieces, data):
    text = "".join(pieces)
    whole = boundaries(text)
    for cut in range(len(text) + 1):
        assert boundaries(text[:cut], text[cut:]) == whole
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert boundaries(*parts) == whole
    assert boundaries(*text) == whole  # one code point at a time


@given(st.lists(MARKDOWN_PIECES, max_size=40))
def test_boundaries_grow_and_fall_at_line_starts_with_text_before_them(pieces):
    text = "".join(pieces)
    found = boundaries(text)
    assert found == sorted(set(found))
    previous = 0
    for offset in found:
        assert 0 < offset <= len(text) and text[offset - 1] == "\n"
        assert text[previous:offset].strip()
        previous = offset
