"""Rendering answers within a budget: hostile Markdown ends as plain text, in time."""

import asyncio
from datetime import UTC, datetime

import pygments.lexers
import pytest
from asgiref.sync import sync_to_async

from chat import render_budget
from chat.models import Conversation, Message
from chat.render_budget import render_answer
from chat.rendering import render_markdown
from chat.replies import areap_replies

# Markdown that takes Python-Markdown minutes, deep recursion or megabytes.
PATHOLOGICAL = {
    "10,000 nested lists": "- " * 10_000 + "x\n",
    "10,000 nested quotes": ">" * 10_000 + " x\n",
    "a 2 MB table": "| a | b |\n|---|---|\n" + "| xxxxxxxxxx | yyyyyyyyyy |\n" * 75_000,
    "100,000 backticks": "`" * 100_000,
    "a long line of *_": "*_" * 50_000,
}
FALLBACK_NOTES = (
    render_budget.TOO_LONG_NOTE,
    render_budget.TOO_SLOW_NOTE,
    render_budget.FAILED_NOTE,
)


def is_fallback(html: str, text: str) -> bool:
    return html.endswith(f"<pre>{__import__('html').escape(text)}</pre>") and any(
        html.startswith(f"<p><em>{note}</em></p>") for note in FALLBACK_NOTES
    )


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_pathological_markdown_returns_rendered_or_as_plain_text(name):
    text = PATHOLOGICAL[name]

    html = render_answer(text)  # returning at all is the point: the budget bounds it

    assert is_fallback(html, text) or (html.startswith("<") and "<script" not in html)


def test_an_answer_over_the_size_cap_is_plain_escaped_text_with_a_note(settings):
    settings.CHAT_RENDER_MAX_CHARS = 20
    text = "# Title\n\n<script>alert(1)</script>"

    html = render_answer(text)

    assert html == (
        f"<p><em>{render_budget.TOO_LONG_NOTE}</em></p>\n"
        "<pre># Title\n\n&lt;script&gt;alert(1)&lt;/script&gt;</pre>"
    )


def test_a_render_past_its_time_budget_is_plain_text_and_the_next_one_renders(
    settings,
):
    settings.CHAT_RENDER_TIMEOUT_S = 0.05
    text = PATHOLOGICAL["10,000 nested lists"]

    html = render_answer(text)

    assert html.startswith(f"<p><em>{render_budget.TOO_SLOW_NOTE}</em></p>")
    settings.CHAT_RENDER_TIMEOUT_S = 30
    assert render_answer("*fine*") == "<p><em>fine</em></p>"


def test_a_short_answer_renders_as_markdown():
    assert render_answer("**bold**") == render_markdown("**bold**")


def test_a_fence_language_outside_the_allowlist_is_plain_code_without_a_lookup(
    monkeypatch,
):
    looked_up = []
    real = pygments.lexers.get_lexer_by_name

    def recording(name, **options):
        looked_up.append(name)
        return real(name, **options)

    monkeypatch.setattr(pygments.lexers, "get_lexer_by_name", recording)

    # brainfuck is a real Pygments lexer, but not on the list.
    html = render_markdown("```brainfuck\n+++[>+<-]\n```\n\n```python\nx = 1\n```\n")

    brainfuck, python = html.split("</div>")[:2]
    assert (
        'data-language="brainfuck"' in brainfuck
        and "<span class=" not in (brainfuck.split("<code>")[1])
    )
    assert '<span class="n">x</span>' in python
    assert looked_up == ["text", "python"]


def dead_answer(user, content: str) -> Message:
    """A streaming answer, in a conversation of its own, of a process long gone."""
    return Message.objects.create(
        conversation=Conversation.objects.create(user=user),
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        content=content,
        heartbeat_at=datetime(2000, 1, 1, tzinfo=UTC),
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("orm_thread")
async def test_an_answer_that_fails_to_render_is_reaped_as_plain_text_with_the_rest(
    alice,
):
    # Python-Markdown raises RecursionError on the first.
    deep = await sync_to_async(dead_answer)(alice, PATHOLOGICAL["10,000 nested lists"])
    fine = await sync_to_async(dead_answer)(alice, "fine")

    assert await areap_replies() == 2

    deep, fine = [await Message.objects.aget(pk=m.pk) for m in (deep, fine)]
    assert deep.status == fine.status == Message.Status.INTERRUPTED
    assert is_fallback(deep.html, deep.content)
    assert fine.html == "<p>fine</p>"


# From the event loop (live formatting, a run's final HTML): `arender_answer`.


async def idle_worker_ready():
    """A worker started and idle, as after the process's first render."""
    await sync_to_async(render_answer, thread_sensitive=False)("# warm")


async def test_the_loop_renders_through_an_idle_worker_without_a_thread(monkeypatch):
    await idle_worker_ready()

    def no_thread(*args, **kwargs):
        raise AssertionError("a thread hop: ~120 µs of the server's CPU a render")

    monkeypatch.setattr(render_budget, "sync_to_async", no_thread)
    assert await render_budget.arender_answer("**bold**") == render_markdown("**bold**")
    # The worker went back to the pool: the next render takes it again.
    assert await render_budget.arender_answer("*it*") == render_markdown("*it*")


async def test_a_loop_render_past_its_budget_is_plain_text_and_the_next_renders(
    settings,
):
    await idle_worker_ready()
    settings.CHAT_RENDER_TIMEOUT_S = 0.05
    text = PATHOLOGICAL["10,000 nested lists"]

    html = await render_budget.arender_answer(text)

    assert html.startswith(f"<p><em>{render_budget.TOO_SLOW_NOTE}</em></p>")
    settings.CHAT_RENDER_TIMEOUT_S = 30
    assert await render_budget.arender_answer("*fine*") == "<p><em>fine</em></p>"


async def test_a_caller_that_gives_up_leaves_the_worker_in_step(settings):
    """A live render cut short by the answer's end: its worker finishes the render
    it was given and goes back to the pool; the next render gets its own HTML."""
    await idle_worker_ready()
    workers = {worker.process.pid for worker in render_budget._pool.idle}
    render = asyncio.ensure_future(render_budget.arender_answer("# first"))
    await asyncio.sleep(0)  # it takes a worker and hands it the text
    render.cancel()
    with pytest.raises(asyncio.CancelledError):
        await render
    await asyncio.gather(*render_budget._renders)  # the render it gave up on
    for text in ("*second*", "**third**"):
        assert await render_budget.arender_answer(text) == render_markdown(text)
    # Not killed (a new worker is a process to start): back among the idle ones.
    assert workers <= {worker.process.pid for worker in render_budget._pool.idle}


async def test_with_no_idle_worker_the_loop_render_waits_on_a_thread(monkeypatch):
    monkeypatch.setattr(render_budget._pool, "take_idle", lambda: None)

    assert await render_budget.arender_answer("**b**") == render_markdown("**b**")
