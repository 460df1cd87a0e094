"""Mark answers whose server process died as interrupted (for cron or a timer)."""

from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management.base import BaseCommand

from chat import replies


class Command(BaseCommand):
    help = (
        "Mark streaming answers with no checkpoint for CHAT_REAP_AFTER_S seconds as "
        "interrupted, keeping their checkpointed text, and tell the open tabs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help=(
                "Reap answers with no checkpoint for this long "
                f"(default CHAT_REAP_AFTER_S, now {settings.CHAT_REAP_AFTER_S:g})."
            ),
        )

    def handle(self, *args, stale_after, **options):
        # This process runs no replies, so it spares none.
        reaped = replies.reap_replies(stale_after_s=stale_after)
        # Tabs on any server process hear it through the channel layer.
        async_to_sync(replies.tell_reaped)(reaped)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Reaped {len(reaped)} interrupted answer(s).")
