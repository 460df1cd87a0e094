"""manage.py import_conversations USER FILE: ChatGPT's export or ours, for USER."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from chat.transfer.records import ImportFileError
from chat.transfer.store import import_file, too_big_error


class Command(BaseCommand):
    help = (
        "Import conversations for a user from ChatGPT's data export (its zip or "
        "conversations.json) or from this site's JSON export. All or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("file", type=Path)

    def handle(self, *args, username, file, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            if file.stat().st_size > settings.CHAT_IMPORT_MAX_BYTES:
                raise too_big_error()
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc

        def progress(phase: str, done: int, total: int) -> None:
            if total and options["verbosity"] > 1:
                self.stderr.write(f"{phase}: {done}/{total}")

        try:
            stored = import_file(user, data, progress)
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Imported {len(stored)} conversations for {username}.")
