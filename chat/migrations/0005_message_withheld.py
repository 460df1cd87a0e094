from django.db import migrations, models


def mark_withheld(apps, schema_editor):
    # Before this field, a withheld answer was known by the flag moderation filed
    # on it (no staff author, note "Moderation: ...").
    Message = apps.get_model("chat", "Message")
    Message.objects.filter(
        role="assistant",
        flags__created_by__isnull=True,
        flags__note__startswith="Moderation:",
    ).update(withheld=True)


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0004_audit_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="withheld",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(mark_withheld, migrations.RunPython.noop),
    ]
