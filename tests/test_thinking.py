"""Inline thinking (`<think>…</think>`) split from the answer, whatever the chunks."""

import pytest

from chat.providers import Finish, ReasoningDelta, TextDelta, Usage
from chat.providers.thinking import ThinkSplitter, split_think_tags


def split(chunks: list[str]) -> tuple[str, str]:
    """(reasoning, answer) of content streamed in these chunks."""
    splitter = ThinkSplitter()
    parts = {"reasoning": [], "answer": []}
    for chunk in chunks:
        for part, text in splitter.feed(chunk):
            assert text, "no empty pieces"
            parts[part].append(text)
    for part, text in splitter.finish():
        parts[part].append(text)
    return "".join(parts["reasoning"]), "".join(parts["answer"])


def every_cut(text: str):
    """The text in two chunks at every position, and in three at every pair."""
    yield [text]
    for i in range(len(text) + 1):
        yield [text[:i], text[i:]]
        for j in range(i, len(text) + 1):
            yield [text[:i], text[i:j], text[j:]]


CASES = [
    # (content, reasoning, answer)
    ("<think>Let me see.</think>\n\nHello!", "Let me see.", "Hello!"),
    ("\n <think>a<b</think>c", "a<b", "c"),
    ("<think></think>Answer", "", "Answer"),
    ("<think>x </thin k></think>y", "x </thin k>", "y"),
    ("<think>no end", "no end", ""),
    ("<think>one</think>two <think>three</think>", "one", "two <think>three</think>"),
    ("Plain answer with <think>a tag</think> inside", "", None),
    ("<thinking is not a tag", "", None),
    ("<thi", "", None),
    ("   ", "", None),
    ("🙂<think>x</think>", "", None),
    ("<think>🤔 💭</think>👍", "🤔 💭", "👍"),
]


@pytest.mark.parametrize(("content", "reasoning", "answer"), CASES)
def test_think_tags_split_the_same_way_at_every_cut_of_the_stream(
    content, reasoning, answer
):
    expected = (reasoning, content if answer is None else answer)
    for chunks in every_cut(content):
        assert split(chunks) == expected, chunks


def test_an_answer_without_tags_passes_through_chunk_by_chunk():
    splitter = ThinkSplitter()

    assert splitter.feed("Hello") == [("answer", "Hello")]
    assert splitter.feed(" <think>") == [("answer", " <think>")]


def test_a_possible_closing_tag_is_held_back_until_the_next_chunk_decides():
    splitter = ThinkSplitter()

    assert splitter.feed("<think>hmm </th") == [("reasoning", "hmm ")]
    assert splitter.feed("ought") == [("reasoning", "</thought")]
    assert splitter.feed("</think>ok") == [("answer", "ok")]


async def test_the_stream_filter_turns_tagged_content_into_reasoning_deltas():
    async def provider():
        for text in ["<thi", "nk>pla", "n</th", "ink>\n", "Done"]:
            yield TextDelta(text)
        yield Finish("stop")
        yield Usage(3, 5)

    events = [event async for event in split_think_tags(provider())]

    assert events == [
        ReasoningDelta("pla"),
        ReasoningDelta("n"),
        TextDelta("Done"),
        Finish("stop"),
        Usage(3, 5),
    ]


async def test_reasoning_a_server_sent_apart_passes_the_filter_untouched():
    async def provider():
        yield ReasoningDelta("<think>")
        yield TextDelta("<b>")
        yield Finish("length")

    events = [event async for event in split_think_tags(provider())]

    assert events == [ReasoningDelta("<think>"), TextDelta("<b>"), Finish("length")]
