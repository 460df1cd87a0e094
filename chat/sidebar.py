"""The sidebar's list: pinned conversations, then the rest by date, one page at a
time (a keyset cursor, so a page costs the same at the 5,000th conversation as at
the first), or the archived ones.

Each page is one query for its rows (and one for the pinned ones on the first
page): the queries of a page do not grow with the number of conversations.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import get_format
from django.utils.translation import gettext

from chat.models import Conversation
from chat.selectors import sidebar_conversations

PAGE_SIZE = 50


@dataclass
class Page:
    conversations: list[Conversation]
    # For the next page's request; None when this was the last.
    next_cursor: str | None


def date_group(when: datetime, now: datetime) -> tuple[str, str]:
    """(key, label) of the date heading a conversation updated `when` goes under."""
    day = timezone.localtime(when).date()
    today = timezone.localtime(now).date()
    if day >= today:
        return "today", gettext("Today")
    if day == today - timedelta(days=1):
        return "yesterday", gettext("Yesterday")
    if day > today - timedelta(days=7):
        return "week", gettext("Previous 7 days")
    if day > today - timedelta(days=30):
        return "month", gettext("Previous 30 days")
    return day.strftime("%Y-%m"), date_format(day, get_format("YEAR_MONTH_FORMAT"))


def with_groups(conversations: list[Conversation]) -> list[Conversation]:
    """Mark each conversation that starts a date group with `group_label`."""
    now, previous = timezone.now(), None
    for conversation in conversations:
        key, label = date_group(conversation.updated_at, now)
        conversation.group_key = key
        conversation.group_label = label if key != previous else ""
        previous = key
    return conversations


def encode_cursor(conversation: Conversation) -> str:
    return f"{conversation.updated_at.isoformat()}_{conversation.pk}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Raise ValueError for a cursor this module did not make."""
    when, _, pk = cursor.rpartition("_")
    updated_at = datetime.fromisoformat(when)
    if timezone.is_naive(updated_at):
        raise ValueError("cursor without a time zone")
    return updated_at, int(pk)


def pinned(*, user, current=None) -> list[Conversation]:
    return list(
        sidebar_conversations(user=user, current=current).filter(
            pinned=True, archived=False
        )
    )


def page(*, user, archived=False, cursor: str | None = None, current=None) -> Page:
    """One page of the dated list (not the pinned ones, unless archived), newest
    first, after `cursor`. Raises ValueError for a bad cursor."""
    rows = sidebar_conversations(user=user, current=current).filter(archived=archived)
    if not archived:
        rows = rows.filter(pinned=False)
    if cursor:
        updated_at, pk = decode_cursor(cursor)
        rows = rows.filter(
            Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, pk__lt=pk)
        )
    conversations = list(rows.order_by("-updated_at", "-id")[: PAGE_SIZE + 1])
    more = len(conversations) > PAGE_SIZE
    conversations = with_groups(conversations[:PAGE_SIZE])
    return Page(conversations, encode_cursor(conversations[-1]) if more else None)
