"""The conversation as a tree: paths, siblings and leaves.

Each message has a parent (None for the first). Siblings share a parent: answers
regenerated for one user message, or a user message and its edits. The branch a
conversation shows is the path from the root to its `current_leaf`. A path is read
with one recursive query (SQLite and PostgreSQL both have WITH RECURSIVE): its
cost grows with the branch's depth, not with the size of the whole tree.
"""

from django.db import connection, transaction
from django.utils.translation import gettext

from chat.models import Conversation, Message
from chat.replies.errors import ReplyError, busy

# Walk up from a message to the root; `depth` counts steps up, so the root has the
# largest. The limit bounds the walk (the history keeps only the newest messages).
_PATH_SQL = """
WITH RECURSIVE path(id, parent_id, role, content, reasoning, depth) AS (
    SELECT id, parent_id, role, {content}, {reasoning}, 0 FROM {table}
    WHERE id = %s AND conversation_id = %s
    UNION ALL
    SELECT m.id, m.parent_id, m.role, {m_content}, {m_reasoning}, path.depth + 1
    FROM {table} m JOIN path ON m.id = path.parent_id
    WHERE path.depth + 1 < %s
)
SELECT id, role, content, reasoning FROM path ORDER BY depth DESC
"""

# The page's read: the same walk, joined back to whole rows for the newest `limit`
# messages, with the whole path's length beside each; one query, where fetching
# the ids' rows by `id IN (...)` cost Django a conversion per id.
_PAGE_SQL = """
WITH RECURSIVE path(id, parent_id, depth) AS (
    SELECT id, parent_id, 0 FROM {table}
    WHERE id = %s AND conversation_id = %s
    UNION ALL
    SELECT m.id, m.parent_id, path.depth + 1
    FROM {table} m JOIN path ON m.id = path.parent_id
    WHERE path.depth + 1 < %s
)
SELECT m.*, (SELECT count(*) FROM path) AS path_length
FROM path JOIN {table} m ON m.id = path.id
WHERE path.depth < %s
ORDER BY path.depth DESC
"""

# Deep enough for any real conversation; stops a corrupt cycle from looping forever.
MAX_DEPTH = 1_000_000


def _shown(column: str, wanted: bool, prefix: str = "") -> str:
    """A column's SQL, '' when not wanted; a withheld answer's text is for staff
    only: never back to the model."""
    if not wanted:
        return "''"
    return f"CASE WHEN {prefix}withheld THEN '' ELSE {prefix}{column} END"


def _walk_up(
    conversation_id: int,
    message_id: int,
    *,
    limit: int,
    with_content: bool,
    with_reasoning: bool = False,
) -> list[tuple[int, str, str, str]]:
    table = connection.ops.quote_name(Message._meta.db_table)
    sql = _PATH_SQL.format(
        table=table,
        content=_shown("content", with_content),
        m_content=_shown("content", with_content, "m."),
        reasoning=_shown("reasoning", with_reasoning),
        m_reasoning=_shown("reasoning", with_reasoning, "m."),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [message_id, conversation_id, limit])
        return cursor.fetchall()


def path_ids(conversation_id: int, leaf_id: int | None) -> list[int]:
    """The ids from the root down to `leaf_id` (empty if not in this conversation)."""
    if leaf_id is None:
        return []
    rows = _walk_up(conversation_id, leaf_id, limit=MAX_DEPTH, with_content=False)
    return [row[0] for row in rows]


def path_turns(
    conversation_id: int, up_to_id: int, *, limit: int, with_reasoning: bool = False
) -> list[tuple]:
    """(role, content, reasoning) of the last `limit` messages of the path ending
    at `up_to_id`; reasoning is read only when asked for ('' otherwise)."""
    rows = _walk_up(
        conversation_id,
        up_to_id,
        limit=limit,
        with_content=True,
        with_reasoning=with_reasoning,
    )
    return [(role, content, reasoning) for _, role, content, reasoning in rows]


def path_messages(
    conversation_id: int, leaf_id: int | None, *, limit: int
) -> tuple[list[Message], int]:
    """The last `limit` messages of the path ending at `leaf_id`, oldest first,
    and the number of messages on the whole path."""
    if leaf_id is None:
        return [], 0
    table = connection.ops.quote_name(Message._meta.db_table)
    messages = list(
        Message.objects.raw(
            _PAGE_SQL.format(table=table),
            [leaf_id, conversation_id, MAX_DEPTH, limit],
        )
    )
    return messages, messages[0].path_length if messages else 0


def siblings_of(conversation_id: int, message_ids: list[int]) -> dict[int, list[int]]:
    """Map each of these messages that has siblings to all of them, oldest first."""
    if not message_ids:
        return {}
    parents = dict(
        Message.objects.filter(pk__in=message_ids).values_list("id", "parent_id")
    )
    return siblings_by_parent(conversation_id, parents)


def siblings_by_parent(
    conversation_id: int, parents: dict[int, int | None]
) -> dict[int, list[int]]:
    """`siblings_of` for messages whose parents are known (message id -> parent)."""
    if not parents:
        return {}
    wanted = sorted({p for p in parents.values() if p is not None})
    family = [f"parent_id IN ({', '.join(['%s'] * len(wanted))})"] if wanted else []
    if None in parents.values():
        family.append("parent_id IS NULL")
    table = connection.ops.quote_name(Message._meta.db_table)
    # Plain parameters: the ORM's `__in` prepares each id one by one, which cost
    # more than the query itself for a page's 200 parents.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, parent_id FROM {table} WHERE conversation_id = %s"
            f" AND ({' OR '.join(family)}) ORDER BY id",
            [conversation_id, *wanted],
        )
        rows = cursor.fetchall()
    by_parent: dict[int | None, list[int]] = {}
    for message_id, parent_id in rows:
        by_parent.setdefault(parent_id, []).append(message_id)
    return {
        message_id: by_parent[parent_id]
        for message_id, parent_id in parents.items()
        if len(by_parent.get(parent_id, ())) > 1
    }


def newest_leaf_under(conversation_id: int, message_id: int) -> int:
    """Follow the newest child down from a message to a message without children.

    Switching to a sibling shows its branch as it was last extended: its newest
    answer, the newest message after that, and so on.
    """
    children: dict[int, int] = {}  # parent id -> newest child id
    rows = Message.objects.filter(
        conversation_id=conversation_id, parent__isnull=False
    ).values_list("id", "parent_id")
    for child_id, parent_id in rows:
        if child_id > children.get(parent_id, 0):
            children[parent_id] = child_id
    leaf = message_id
    while leaf in children:
        leaf = children[leaf]
    return leaf


def path_payload(conversation_id: int, leaf_id: int | None) -> dict:
    """The `conversation.path` frame: the branch shown, with its messages' siblings."""
    path = path_ids(conversation_id, leaf_id)
    siblings = siblings_of(conversation_id, path)
    return {
        "type": "conversation.path",
        "id": conversation_id,
        "leaf_id": path[-1] if path else None,
        "path": path,
        "siblings": {str(k): v for k, v in siblings.items()},
    }


def store_switch(*, conversation_id: int, message_id: int) -> int:
    """Show the branch through a message (`newest_leaf_under`); return its leaf."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if not conversation.messages.filter(pk=message_id).exists():
            raise ReplyError(
                "not_found", gettext("There is no such message in this chat.")
            )
        # The branch shown ends at the streaming answer until it is done, so no
        # page ever hides a running answer.
        if conversation.messages.filter(status=Message.Status.STREAMING).exists():
            raise busy()
        conversation.current_leaf_id = newest_leaf_under(conversation_id, message_id)
        conversation.save(update_fields=["current_leaf"])
        return conversation.current_leaf_id
