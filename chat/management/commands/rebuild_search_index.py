from django.core.management.base import BaseCommand
from django.db import connection, transaction

from chat import search_index


class Command(BaseCommand):
    help = "Rebuild the full-text search index of message text from the messages."

    def handle(self, *args, **options):
        with transaction.atomic():
            search_index.rebuild(connection)
        self.stdout.write(f"Search index rebuilt ({connection.vendor}).")
