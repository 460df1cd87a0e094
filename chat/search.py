"""Search one person's conversations: titles and message text, newest first.

The one entry point is `search(user=..., query=...)`; it reads only the owner's
conversations (`selectors.conversations_for_user`), archived ones included, and
never a withheld answer. A streaming answer is found by its last checkpointed text.

A message matches when every word of the query appears in it, in any case:
- PostgreSQL: the words as `websearch_to_tsquery('simple', ...)` (quotes, `or`,
  `-word` work as on a search engine), or the whole query as a substring (ILIKE,
  served by the trigram index), which finds text without spaces (Chinese...);
  among the newest messages, every word as a substring (see RECENT_WINDOW).
- SQLite: each word as a substring, through the FTS5 trigram table (words of 3+
  characters); words of 1-2 characters, which have no trigram, are matched with
  LIKE on the messages the other words found, or on all of the person's messages.
  Streaming answers are not in the FTS table (chat/search_index.py): the person's
  few are matched with LIKE.

Snippets are built here, escaped, with each match in <mark>.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from chat.models import Message
from chat.replies import tree
from chat.replies.errors import ReplyError
from chat.search_index import FTS_TABLE
from chat.selectors import conversations_for_user

MAX_QUERY_CHARS = 200
MAX_RESULTS = 20
MAX_TITLE_RESULTS = 5
SNIPPET_CHARS = 160
# FTS5 trigrams: a shorter word has none to look up.
TRIGRAM = 3


@dataclass
class Result:
    conversation_id: int
    title: str
    snippet: SafeString
    message_id: int | None = None
    role: str = ""

    @property
    def url(self) -> str:
        """The conversation; at a message: `?m=` shows its branch, the page
        scrolls to it."""
        url = reverse("conversation", args=[self.conversation_id])
        if self.message_id is None:
            return url
        return f"{url}?m={self.message_id}#message-{self.message_id}"


def query_words(query: str) -> list[str]:
    """The words a match must contain (quoted phrases kept whole), without the
    search-engine syntax (`or`, a leading `-`)."""
    words = []
    for phrase, word in re.findall(r'"([^"]*)"|(\S+)', query):
        text = (phrase or word).strip()
        if not text or text.lower() == "or" or (word and text.startswith("-")):
            continue
        words.append(text)
    return words


def snippet(text: str, words: list[str]) -> SafeString:
    """About SNIPPET_CHARS of `text` around the first match, escaped, matches in
    <mark>."""
    text = " ".join(text.split())
    if not words:
        return escape(text[:SNIPPET_CHARS])
    pattern = re.compile(
        "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)),
        re.IGNORECASE,
    )
    first = pattern.search(text)
    start = max(0, first.start() - SNIPPET_CHARS // 3) if first else 0
    end = start + SNIPPET_CHARS
    window = text[start:end]
    parts, last = [], 0
    for match in pattern.finditer(window):
        parts.append(escape(window[last : match.start()]))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        last = match.end()
    parts.append(escape(window[last:]))
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(text) else ""
    return mark_safe(prefix + "".join(parts) + suffix)  # each part escaped above


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# PostgreSQL, in two steps, each bounded. Common words first: the person's newest
# RECENT_WINDOW messages, each word checked as a substring (no index, but few rows
# and cheap per row); 20 found there are the newest 20. Otherwise the indexes: the
# words through the full-text index, the whole query through the trigram index,
# each MATERIALIZED so the planner cannot swap them for a walk down the primary
# key that filters every row (it misjudges how rare a word is).
RECENT_WINDOW = 2000
_MINE = "m.conversation_id IN (SELECT id FROM chat_conversation WHERE user_id = %s)"
_RECENT_SQL = f"""
    SELECT id FROM (
        SELECT m.id, m.content FROM chat_message m
        WHERE {_MINE} AND NOT m.withheld ORDER BY m.id DESC LIMIT %s
    ) recent WHERE {{words}} ORDER BY id DESC LIMIT %s
"""
_INDEXED_SQL = f"""
    WITH words AS MATERIALIZED (
        SELECT m.id FROM chat_message m WHERE {_MINE} AND NOT m.withheld
        AND to_tsvector('simple', m.content) @@ websearch_to_tsquery('simple', %s)
    ), substrings AS MATERIALIZED (
        SELECT m.id FROM chat_message m WHERE {_MINE} AND NOT m.withheld
        AND m.content ILIKE %s
    )
    SELECT id FROM words UNION SELECT id FROM substrings ORDER BY id DESC LIMIT %s
"""
# A query of 1-2 characters has no trigram: the person's messages newest first.
_SHORT_SQL = f"""
    SELECT m.id FROM chat_message m WHERE {_MINE} AND NOT m.withheld
    AND m.content ILIKE %s ORDER BY m.id DESC LIMIT %s
"""


def _matching_ids_postgresql(user_id: int, query: str, words: list[str]) -> list:
    every_word = " AND ".join(["content ILIKE %s"] * len(words))
    whole = _like(query.strip())
    with connection.cursor() as cursor:
        cursor.execute(
            _RECENT_SQL.format(words=every_word),
            [user_id, RECENT_WINDOW, *map(_like, words), MAX_RESULTS],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if len(ids) == MAX_RESULTS:
            return ids
        if len(query.strip()) < TRIGRAM:
            cursor.execute(_SHORT_SQL, [user_id, whole, MAX_RESULTS])
        else:
            cursor.execute(_INDEXED_SQL, [user_id, query, user_id, whole, MAX_RESULTS])
        return [row[0] for row in cursor.fetchall()]


def _matching_ids_sqlite(user_id: int, query: str, words: list[str]) -> list:
    long_words = [w for w in words if len(w) >= TRIGRAM]
    short_words = [w for w in words if len(w) < TRIGRAM]
    # Walking the messages (or the FTS matches) newest first and stopping at the
    # 20th of this person's: an IN over their conversations, not a join, lets
    # SQLite do that instead of sorting every match.
    conditions = [
        "m.conversation_id IN (SELECT id FROM chat_conversation WHERE user_id = %s)",
        "NOT m.withheld",
    ]
    params: list = [user_id]

    def like(words: list[str]) -> None:
        conditions.extend(["m.content LIKE %s ESCAPE '\\'"] * len(words))
        params.extend(_like(w) for w in words)

    like(short_words)
    if not long_words:
        return _newest_ids("chat_message m", conditions, params, "m.id DESC")
    # Each word a quoted phrase: a substring, whatever FTS5 syntax it holds.
    match = " AND ".join('"' + w.replace('"', '""') + '"' for w in long_words)
    indexed = _newest_ids(
        f"{FTS_TABLE} f JOIN chat_message m ON m.id = f.rowid",
        [f"{FTS_TABLE} MATCH %s", *conditions],
        [match, *params],
        "f.rowid DESC",
    )
    # LIKE folds ASCII case only (FTS5's trigrams fold every script's): until it
    # ends, a streaming "Ärger" is not found by "ärger".
    like(long_words)
    conditions.append("m.status = 'streaming'")
    streaming = _newest_ids("chat_message m", conditions, params, "m.id DESC")
    return sorted({*indexed, *streaming}, reverse=True)[:MAX_RESULTS]


def _newest_ids(source: str, conditions: list[str], params: list, order: str) -> list:
    sql = f"""
        SELECT m.id FROM {source}
        WHERE {" AND ".join(conditions)}
        ORDER BY {order} LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, MAX_RESULTS])
        return [row[0] for row in cursor.fetchall()]


def matching_message_ids(*, user, query: str) -> list[int]:
    """Ids of the person's messages matching `query`, newest first."""
    words = query_words(query)
    if not user.is_authenticated or not words:
        return []
    if connection.vendor == "postgresql":
        return _matching_ids_postgresql(user.pk, query, words)
    return _matching_ids_sqlite(user.pk, query, words)


def search(*, user, query: str) -> list[Result]:
    """Conversations whose title matches, then messages, newest first."""
    query = query.strip()[:MAX_QUERY_CHARS]
    words = query_words(query)
    if not words:
        return []
    titles = conversations_for_user(user=user).filter(title__gt="")
    for word in words:
        titles = titles.filter(title__icontains=word)
    results = [
        Result(conversation_id=c.pk, title=c.title, snippet=snippet(c.title, words))
        for c in titles.only("id", "title")[:MAX_TITLE_RESULTS]
    ]
    ids = matching_message_ids(user=user, query=query)
    found = (
        Message.objects.filter(
            pk__in=ids, conversation__in=conversations_for_user(user=user)
        )
        .select_related("conversation")
        .only(
            "id", "role", "content", "withheld", "conversation", "conversation__title"
        )
        .in_bulk()
    )
    for message_id in ids:
        message = found.get(message_id)
        if message is None:
            continue
        results.append(
            Result(
                conversation_id=message.conversation_id,
                title=message.conversation.title,
                snippet=snippet(message.shown_content, words),
                message_id=message.pk,
                role=message.role,
            )
        )
    return results


@dataclass
class ShownMessage:
    message_id: int | None = None
    # Older than the page's newest CHAT_PAGE_MESSAGES: show the whole branch.
    needs_all: bool = False


def show_message(conversation, raw_id: str | None) -> ShownMessage:
    """Move the conversation's shown branch to one through message `raw_id` (if
    it is not on it already); say whether the page must show all of it.

    A message of another conversation, or none, leaves everything as it is; so
    does a running answer (the branch shown stays on it until it is done).
    """
    try:
        message_id = int(raw_id or "")
    except ValueError:
        return ShownMessage()
    path = tree.path_ids(conversation.pk, conversation.current_leaf_id)
    if message_id not in path:
        try:
            conversation.current_leaf_id = tree.store_switch(
                conversation_id=conversation.pk, message_id=message_id
            )
        except ReplyError:
            return ShownMessage()
        path = tree.path_ids(conversation.pk, conversation.current_leaf_id)
    position = path.index(message_id)
    return ShownMessage(
        message_id, needs_all=position < len(path) - settings.CHAT_PAGE_MESSAGES
    )
