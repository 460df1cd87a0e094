"""Search (chat/search_index.py) and the sidebar's pin, archive and page index."""

from django.db import migrations, models


def install_search(apps, schema_editor):
    from chat import search_index

    search_index.install(schema_editor.connection)


def uninstall_search(apps, schema_editor):
    from chat import search_index

    search_index.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0007_message_reasoning"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="pinned",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="conversation",
            name="archived",
            field=models.BooleanField(default=False),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["user", "archived", "pinned", "-updated_at", "-id"],
                name="conversation_sidebar",
            ),
        ),
        migrations.RunPython(install_search, uninstall_search),
    ]
