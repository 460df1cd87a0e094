"""The history a reply sends upstream: the branch's path beside the query it replaced.

    .venv/bin/python -m bench.history [--messages 5000] [--repeat 200]

Builds one conversation of --messages messages on a scratch SQLite database (or
the PostgreSQL of DATABASE_URL, in a scratch conversation), every fourth answer
regenerated once (a sibling), and times, in the same run:

- baseline: the linear query the history used before the tree (the newest
  CHAT_HISTORY_MESSAGES rows by id, three columns);
- path: `tree.path_turns`, the recursive query up the branch (the same number);
- page: what a conversation page reads (`selectors.shown_branch`: a walk up the
  whole branch joined to its newest 200 messages, then their siblings), beside
  what it read before the tree (its newest 201 messages and a count).
"""

import argparse
import os
import statistics
import tempfile
import time


def setup(database_url: str | None) -> None:
    os.environ.setdefault("DEBUG", "true")
    os.environ["DATABASE_URL"] = database_url or (
        f"sqlite:///{tempfile.mkdtemp(prefix='bench-history-')}/db.sqlite3"
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "chatsite.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build(messages: int):
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from chat.models import Conversation, Message

    user, _ = get_user_model().objects.get_or_create(username="bench-history")
    conversation = Conversation.objects.create(user=user)
    parent = None
    with transaction.atomic():
        for i in range(messages // 2):
            question = Message.objects.create(
                conversation=conversation, role="user", content=f"q{i}", parent=parent
            )
            if i % 4 == 0:  # a regenerated answer left on the side
                Message.objects.create(
                    conversation=conversation, role="assistant", parent=question
                )
            parent = Message.objects.create(
                conversation=conversation,
                role="assistant",
                content=f"a{i}" * 20,
                parent=question,
            )
    conversation.current_leaf = parent
    conversation.save()
    return conversation


def samples_ms(fn, repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` calls, after one to warm up."""
    fn()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def timed(fn, repeat: int) -> float:
    return statistics.median(samples_ms(fn, repeat))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    setup(os.environ.get("DATABASE_URL"))
    from django.conf import settings
    from django.db import connection

    from chat.replies import tree
    from chat.selectors import shown_branch

    conversation = build(args.messages)
    leaf, limit = conversation.current_leaf_id, settings.CHAT_HISTORY_MESSAGES

    def baseline():
        return list(
            conversation.messages.filter(id__lte=leaf)
            .order_by("-id")
            .values_list("role", "content", "parent_id")[:limit]
        )

    def old_page():
        newest = list(conversation.messages.order_by("-created_at", "-id")[:201])
        return newest, conversation.messages.count()

    figures = {
        "baseline (linear, newest by id)": timed(baseline, args.repeat),
        "path (recursive, up the branch)": timed(
            lambda: tree.path_turns(conversation.pk, leaf, limit=limit), args.repeat
        ),
        "page before the tree (newest 201 rows, count)": timed(
            old_page, max(10, args.repeat // 10)
        ),
        "page (the branch's newest 200, with siblings)": timed(
            lambda: shown_branch(conversation=conversation, limit=200),
            max(10, args.repeat // 10),
        ),
    }
    base = figures["baseline (linear, newest by id)"]
    print(
        f"{connection.vendor}, {conversation.messages.count()} messages, "
        f"history of {limit}"
    )
    for name, ms in figures.items():
        print(f"{name:45} {ms:8.3f} ms  {ms / base:6.2f}x baseline")
    conversation.delete()


if __name__ == "__main__":
    main()
