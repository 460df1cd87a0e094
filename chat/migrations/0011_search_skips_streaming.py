"""SQLite's search triggers leave streaming answers out (chat/search_index.py)."""

from django.db import migrations


def replace_triggers(apps, schema_editor):
    from chat import search_index

    search_index.replace_sqlite_triggers(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0010_api_tokens"),
    ]

    operations = [
        # Going back keeps the new triggers: the older ones index the same
        # messages once an answer ends, only more often while it streams.
        migrations.RunPython(replace_triggers, migrations.RunPython.noop),
    ]
