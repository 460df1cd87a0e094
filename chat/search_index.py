"""The search index's schema, per database (`chat/search.py` reads it).

SQLite: an FTS5 table with the trigram tokenizer (any language, substrings of 3+
characters), one row per message that may be shown and is no longer streaming
(`rowid` = the message's id), kept in step by triggers on the message table.
Triggers, not signals, because the reply path writes with `.update()` (checkpoints,
the final write, moderation), which sends no signal.

PostgreSQL: two GIN indexes on the message text, both skipping withheld answers:
`to_tsvector('simple', ...)` for `websearch_to_tsquery` (words, any language that
separates them) and `gin_trgm_ops` (pg_trgm) for substrings, which Chinese, Japanese
and Korean need. Nothing to keep in step: PostgreSQL maintains its indexes.
"""

FTS_TABLE = "chat_message_search"

# A streaming answer is left out until it ends: each checkpoint rewrites its text,
# and indexing the whole text again every round cost more server CPU than the
# answer's frames (bench/README.md, figure 7). chat/search.py finds streaming
# answers by their text directly; they are few.
_SETTLED = "new.status <> 'streaming'"
_SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON chat_message
        WHEN NOT new.withheld AND {_SETTLED} BEGIN
            INSERT INTO {FTS_TABLE}(rowid, content) VALUES (new.id, new.content);
        END""",
    f"{FTS_TABLE}_update": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update
        AFTER UPDATE OF content, withheld, status ON chat_message
        WHEN old.status <> 'streaming' OR {_SETTLED} BEGIN
            DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
            INSERT INTO {FTS_TABLE}(rowid, content)
                SELECT new.id, new.content WHERE NOT new.withheld AND {_SETTLED};
        END""",
    f"{FTS_TABLE}_delete": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON chat_message
        BEGIN
            DELETE FROM {FTS_TABLE} WHERE rowid = old.id;
        END""",
}

_POSTGRES_INDEXES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS chat_message_search_words ON chat_message "
    "USING gin (to_tsvector('simple', content)) WHERE NOT withheld",
    "CREATE INDEX IF NOT EXISTS chat_message_search_trigrams ON chat_message "
    "USING gin (content gin_trgm_ops) WHERE NOT withheld",
]


def _sqlite_triggers_missing(cursor) -> bool:
    cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = "
        "'chat_message'"
    )
    return not set(_SQLITE_TRIGGERS) <= {row[0] for row in cursor.fetchall()}


def install(connection) -> None:
    """Create what search needs on this database; fill the SQLite table if new or
    if its triggers were lost (SQLite migrations that alter the message table
    rebuild it, and the triggers go with the old table)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for sql in _POSTGRES_INDEXES:
                cursor.execute(sql)
        elif connection.vendor == "sqlite" and _sqlite_triggers_missing(cursor):
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} "
                "USING fts5(content, tokenize = 'trigram')"
            )
            for sql in _SQLITE_TRIGGERS.values():
                cursor.execute(sql)
            _refill_sqlite(cursor)


def _refill_sqlite(cursor) -> None:
    cursor.execute(f"DELETE FROM {FTS_TABLE}")
    cursor.execute(
        f"INSERT INTO {FTS_TABLE}(rowid, content) "
        "SELECT id, content FROM chat_message "
        "WHERE NOT withheld AND status <> 'streaming'"
    )


def replace_sqlite_triggers(connection) -> None:
    """Install the triggers as this module writes them now, over older ones, and
    fill the table again to match (a migration)."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for name in _SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    install(connection)


def rebuild(connection) -> None:
    """Make the index match the messages again (`manage.py rebuild_search_index`)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # PostgreSQL refuses to index a table with deferred checks pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    install(connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("REINDEX INDEX chat_message_search_words")
            cursor.execute("REINDEX INDEX chat_message_search_trigrams")
        elif connection.vendor == "sqlite":
            _refill_sqlite(cursor)
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP INDEX IF EXISTS chat_message_search_words")
            cursor.execute("DROP INDEX IF EXISTS chat_message_search_trigrams")
        elif connection.vendor == "sqlite":
            for name in _SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
