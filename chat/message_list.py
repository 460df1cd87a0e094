"""The conversation page's messages as HTML, built in Python.

The page shows up to CHAT_PAGE_MESSAGES (200) messages; through the template
language each cost about a quarter of a millisecond (some fifty nodes, each
resolving variables, filters and translations), so a long conversation's page took
8 times an empty one's. Here one message is one string join: the labels are
translated once per page, and every value from the database is escaped, except
`html` and `reasoning_html`, which the renderer sanitized when it stored them (the
template marked them `|safe` too). The markup is what chat.html's loop wrote;
`#message-template` in chat.html, the empty copy the page script fills for a new
message, must stay alike.
"""

from html import escape  # Django's escape() is this, behind a lazy-string wrapper

from django.utils import dateformat, formats, timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from chat.models import Message

STREAMING = Message.Status.STREAMING
ASSISTANT = Message.Role.ASSISTANT
USER = Message.Role.USER
BADGES = ("stopped", "failed", "interrupted")
BUSY = ' aria-busy="true"'
PREVIOUS, NEXT = "\u2039", "\u203a"  # the branch arrows: single angle quotes
# Date format characters that can differ within one local minute: seconds,
# microseconds, epoch, ISO, RFC 5322, and the zone's (a minute repeats when the
# clocks go back).
NOT_BY_MINUTE = set("sucrUeIOTZ")


def _labels() -> dict[str, str]:
    """The page's fixed words in the current language, escaped for HTML."""
    words = {
        "you": gettext("You"),
        "system": gettext("System"),
        "stopped": gettext("Stopped"),
        "failed": gettext("Failed"),
        "interrupted": gettext("Interrupted"),
        "thought": gettext("Thought"),
        "thinking": gettext("Thinking…"),
        "copy": gettext("Copy"),
        "copy_message": gettext("Copy message"),
        "copy_answer": gettext("Copy answer"),
        "edit": gettext("Edit"),
        "edit_message": gettext("Edit message"),
        "regenerate": gettext("Regenerate"),
        "regenerate_answer": gettext("Regenerate answer"),
        "retry": gettext("Retry"),
        "previous_version": gettext("Previous version"),
        "next_version": gettext("Next version"),
        "was_interrupted": gettext("The answer was interrupted."),
        "went_wrong": gettext("Something went wrong while answering."),
        "tokens_title": gettext("Prompt tokens → completion tokens"),
        "ttft_title": gettext("Time to first token"),
        "duration_title": gettext("Total time"),
        # Formats, filled with numbers only (nothing to escape in those).
        "thought_for": gettext("Thought for %(seconds)s s"),
        "tokens": gettext("%(prompt)s → %(completion)s tokens"),
        "ttft": gettext("%(ms)s ms to first token"),
        "duration": gettext("%(ms)s ms"),
    }
    return {key: escape(text) for key, text in words.items()}


def _number(value) -> str:
    """An optional integer as the template wrote it: '' for None."""
    return "" if value is None else str(value)


class _Times:
    """A message's time three ways, as the `date`/`time` filters write them."""

    def __init__(self):
        self.zone = timezone.get_current_timezone()
        self.title_format = formats.get_format("DATETIME_FORMAT")
        # Formatting a date is the dearest part of a message: when the format
        # stops at the minute (it does in every language here), one title serves
        # all the messages of a minute.
        self.by_minute = not NOT_BY_MINUTE & set(self.title_format)
        self.titles: dict = {}

    def __call__(self, created_at) -> tuple[str, str, str]:
        local = created_at.astimezone(self.zone)
        key = local.replace(second=0, microsecond=0) if self.by_minute else local
        title = self.titles.get(key)
        if title is None:
            title = self.titles[key] = escape(
                dateformat.format(local, self.title_format)
            )
        return local.isoformat(), title, f"{local.hour:02d}:{local.minute:02d}"


def _branch_nav(m, t: dict) -> str:
    count = len(m.siblings)
    return (
        f'<span class="branch-nav"{"" if count else " hidden"}>\n'
        f'<button type="button" class="branch-btn" data-action="branch-prev" '
        f'aria-label="{t["previous_version"]}"'
        f"{' disabled' if m.sibling_index == 1 else ''}>{PREVIOUS}</button>\n"
        f'<span class="branch-count">'
        f"{f'{m.sibling_index} / {count}' if count else ''}</span>\n"
        f'<button type="button" class="branch-btn" data-action="branch-next" '
        f'aria-label="{t["next_version"]}"'
        f"{' disabled' if m.sibling_index == count else ''}>{NEXT}</button>\n"
        "</span>"
    )


def _reasoning(m, t: dict, streaming: bool) -> str:
    shown = m.shown_reasoning
    if not streaming:
        label = t["thought_for"] % {"seconds": m.reasoning_seconds}
    else:
        label = t["thought"] if m.shown_content else t["thinking"]
    html_hidden = not m.reasoning_html or streaming or m.withheld
    return (
        f'<details class="message-reasoning" data-assistant-only '
        f'data-reasoning-ms="{_number(m.reasoning_ms)}"{"" if shown else " hidden"}>\n'
        f'<summary class="message-reasoning-label">{label}</summary>\n'
        f'<div class="message-reasoning-html" dir="auto"'
        f"{' hidden' if html_hidden else ''}>"
        f"{m.reasoning_html if not streaming and not m.withheld else ''}</div>\n"
        f'<div class="message-reasoning-text" dir="auto"'
        f"{' hidden' if m.reasoning_html and not streaming else ''}>"
        f"{escape(shown)}</div>\n"
        "</details>"
    )


def _error_text(m, t: dict) -> str:
    if m.error:
        return escape(gettext(m.error))  # stored in English, shown translated
    return t["was_interrupted"] if m.status == "interrupted" else t["went_wrong"]


def _stats(m, t: dict, streaming: bool) -> str:
    parts = []
    if not streaming and (
        m.prompt_tokens is not None or m.completion_tokens is not None
    ):
        tokens = t["tokens"] % {
            "prompt": "?" if m.prompt_tokens is None else m.prompt_tokens,
            "completion": "?" if m.completion_tokens is None else m.completion_tokens,
        }
        parts.append(
            f'<span class="stat stat-tokens" title="{t["tokens_title"]}">'
            f"{tokens}</span>"
        )
    if m.ttft_ms is not None:
        ttft = t["ttft"] % {"ms": m.ttft_ms}
        parts.append(
            f'<span class="stat stat-ttft" title="{t["ttft_title"]}">{ttft}</span>'
        )
    if m.duration_ms is not None:
        duration = t["duration"] % {"ms": m.duration_ms}
        parts.append(
            f'<span class="stat stat-duration" title="{t["duration_title"]}">'
            f"{duration}</span>"
        )
    return "".join(parts)


def _message(m, *, t: dict, times: _Times, model_name: str, found: bool) -> str:
    role, status = m.role, m.status
    assistant, streaming = role == ASSISTANT, status == STREAMING
    out = [
        f'<article class="message message-{escape(role)}'
        f'{" is-found" if found else ""}" id="message-{m.id}" '
        f'data-message-id="{m.id}" data-parent-id="{_number(m.parent_id)}" '
        f'data-siblings="{",".join(map(str, m.siblings))}" '
        f'data-role="{escape(role)}" data-status="{escape(status)}"'
        f"{BUSY if streaming else ''}"
    ]
    if assistant:
        out.append(
            f' data-model="{escape(m.model)}" '
            f'data-prompt-tokens="{_number(m.prompt_tokens)}" '
            f'data-completion-tokens="{_number(m.completion_tokens)}" '
            f'data-ttft-ms="{_number(m.ttft_ms)}" '
            f'data-duration-ms="{_number(m.duration_ms)}"'
        )
    if assistant:
        author = escape(m.model or model_name)
    else:
        author = t["you"] if role == USER else t["system"]
    iso, title, clock = times(m.created_at)
    badge = t[status] if status in BADGES else ""
    out.append(
        ">\n"
        f"{AVATAR}\n"
        '<div class="message-main">\n'
        '<div class="message-head">\n'
        f'<span class="message-author">{author}</span>\n'
        f'<time class="message-time" datetime="{iso}" title="{title}">{clock}</time>\n'
        f'<span class="message-badge"{"" if badge else " hidden"}>{badge}</span>\n'
        "</div>\n"
        '<div class="message-body">\n'
    )
    if assistant:
        out.append(
            f"{_reasoning(m, t, streaming)}\n"
            f'<div class="message-html" dir="auto"'
            f"{' hidden' if not m.html or streaming else ''}>"
            f"{'' if streaming else m.html}</div>\n"
        )
    if assistant and not streaming and not m.html:
        out.append('<div class="message-text" dir="auto" hidden></div>\n')
    else:
        out.append(
            f'<div class="message-text" dir="auto"'
            f"{' hidden' if assistant and not streaming else ''}>"
            f"{escape(m.shown_content)}</div>\n"
        )
    if assistant:
        out.append('<p class="message-queue" hidden></p>\n')
    out.append("</div>\n")
    if role == USER:
        out.append(
            '<div class="message-foot">\n'
            f"{_branch_nav(m, t)}\n"
            '<span class="message-actions">\n'
            '<button type="button" class="action-btn copy-btn" data-action="copy" '
            f'aria-label="{t["copy_message"]}">{t["copy"]}</button>\n'
            '<button type="button" class="action-btn edit-btn" data-action="edit" '
            f'aria-label="{t["edit_message"]}">{t["edit"]}</button>\n'
            "</span>\n"
            "</div>\n"
        )
    if assistant:
        error_shown = status in ("failed", "interrupted")
        out.append(
            f'<div class="message-error"{"" if error_shown else " hidden"}>\n'
            f'<p class="message-error-text">{_error_text(m, t)}</p>\n'
            '<button type="button" class="btn btn-small retry-btn" '
            f'data-action="retry">{t["retry"]}</button>\n'
            "</div>\n"
            '<div class="message-foot">\n'
            f"{_branch_nav(m, t)}\n"
            f'<span class="message-stats">{_stats(m, t, streaming)}</span>\n'
            '<span class="message-actions">\n'
            '<button type="button" class="action-btn copy-btn" data-action="copy" '
            f'aria-label="{t["copy_answer"]}">{t["copy"]}</button>\n'
            '<button type="button" class="action-btn regenerate-btn" '
            f'data-action="regenerate" aria-label="{t["regenerate_answer"]}">'
            f"{t['regenerate']}</button>\n"
            "</span>\n"
            "</div>\n"
        )
    out.append("</div>\n</article>\n")
    return "".join(out)


AVATAR = (
    '<div class="message-avatar" aria-hidden="true"><svg viewBox="0 0 32 32" '
    'width="28" height="28" focusable="false"><rect width="32" height="32" rx="9" '
    'fill="currentColor"/><path d="M9 11.5a3.5 3.5 0 0 1 3.5-3.5h7a3.5 3.5 0 0 1 '
    '3.5 3.5v5a3.5 3.5 0 0 1-3.5 3.5H15l-4 3.5V20a3.5 3.5 0 0 1-2-3.2z" '
    'fill="#fff"/></svg></div>'
)


def messages_html(
    messages: list[Message], *, model_name: str, shown_message_id: int | None
) -> SafeString:
    """The `<article>` of each message, oldest first (`shown_branch`'s list)."""
    t, times = _labels(), _Times()
    return mark_safe(  # every value escaped above; html sanitized when stored
        "".join(
            _message(
                m,
                t=t,
                times=times,
                model_name=model_name,
                found=m.id == shown_message_id,
            )
            for m in messages
        )
    )
