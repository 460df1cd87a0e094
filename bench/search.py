"""Search: the indexed query beside a plain `icontains` scan, in the same run.

    .venv/bin/python -m bench.search [--conversations 1000] [--per 100] [--repeat 30]
    DATABASE_URL=postgres://... .venv/bin/python -m bench.search

Builds one person's --conversations conversations of --per messages each (100,000
by default: words from a 3,000-word vocabulary, Zipf-like, one message in ten in
Chinese) on a scratch SQLite database (or the PostgreSQL of DATABASE_URL, as a
scratch user deleted at the end), then times each query of a mixed set (a rare, a
middling and a common word, two words, a Chinese substring of 4 and of 2
characters, a word found nowhere):

- indexed: `search.matching_message_ids` (SQLite FTS5 trigram / PostgreSQL GIN
  full-text + pg_trgm), the person's newest 20 matches;
- scan (baseline): the same 20 through the ORM's `content__icontains`;
- page: `search.search`, what the search box gets (titles, messages, snippets).

Prints p50 and p99 over all queries and repeats, and each query's median.
"""

import argparse
import os
import random
import statistics
import time

# The same scratch database (or DATABASE_URL's), migrated.
from bench.history import samples_ms, setup

CHINESE = [
    "我最喜欢吃的水果是苹果和香蕉",
    "今天天气很好我们去公园散步吧",
    "请帮我把这段代码翻译成中文注释",
    "数据库索引可以让查询变得更快",
    "明天上午十点开会讨论项目进度",
]
QUERIES = {
    "rare word": "w2900",
    "middling word": "w0300",
    "common word": "w0003",
    "two words": "w0010 w0050",
    "Chinese, 4 characters": "查询变得",
    "Chinese, 2 characters": "苹果",
    "found nowhere": "zzyzx",
}


def sentence(rng: random.Random, words: list[str], weights: list[float]) -> str:
    if rng.random() < 0.1:
        return "\uff0c".join(rng.sample(CHINESE, 2)) + "。"
    return " ".join(rng.choices(words, weights, k=rng.randint(10, 40)))


def build(conversations: int, per: int):
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from chat.models import Conversation, Message

    rng = random.Random(14)
    words = [f"w{i:04d}" for i in range(3000)]
    weights = [1 / (i + 1) for i in range(len(words))]
    user = get_user_model().objects.create_user(f"bench-search-{time.time_ns()}")
    with transaction.atomic():
        made = Conversation.objects.bulk_create(
            Conversation(user=user, title=f"conversation {i}")
            for i in range(conversations)
        )
        for start in range(0, len(made), 50):
            Message.objects.bulk_create(
                (
                    Message(
                        conversation=conversation,
                        role="user" if i % 2 == 0 else "assistant",
                        content=sentence(rng, words, weights),
                    )
                    for conversation in made[start : start + 50]
                    for i in range(per)
                ),
                batch_size=1000,
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE chat_message")
            cursor.execute("ANALYZE chat_conversation")
    return user


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--per", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    setup(os.environ.get("DATABASE_URL"))
    from django.db import connection

    from chat import search
    from chat.models import Message

    started = time.perf_counter()
    user = build(args.conversations, args.per)
    built_s = time.perf_counter() - started

    def scan(query):
        rows = Message.objects.filter(conversation__user=user, withheld=False)
        for word in query.split():  # every word, as the search does
            rows = rows.filter(content__icontains=word)
        return list(rows.order_by("-id").values_list("id", flat=True)[:20])

    ways = {
        "scan (icontains, baseline)": scan,
        "indexed": lambda q: search.matching_message_ids(user=user, query=q),
        "page (search.search)": lambda q: search.search(user=user, query=q),
    }
    samples = {way: [] for way in ways}
    medians = {}
    for name, query in QUERIES.items():
        found = len(scan(query))
        indexed = len(search.matching_message_ids(user=user, query=query))
        for way, fn in ways.items():
            runs = samples_ms(lambda fn=fn, query=query: fn(query), args.repeat)
            samples[way] += runs
            medians[name, way] = statistics.median(runs)
        medians[name, "found"] = f"{found}/{indexed}"

    count = Message.objects.filter(conversation__user=user).count()
    print(
        f"{connection.vendor}, {count} messages in {args.conversations} "
        f"conversations (built in {built_s:.0f} s), {args.repeat} runs of each query"
    )
    base = statistics.median(samples["scan (icontains, baseline)"])
    print(f"{'':28} {'p50 ms':>9} {'p99 ms':>9} {'p50 vs scan':>12}")
    for way, runs in samples.items():
        p50 = statistics.median(runs)
        print(f"{way:28} {p50:9.2f} {p99(runs):9.2f} {p50 / base:11.3f}x")
    print()
    print(f"{'query (median ms)':28} {'scan':>9} {'indexed':>9} {'page':>9}  found")
    for name in QUERIES:
        row = [medians[name, way] for way in ways]
        print(
            f"{name:28} {row[0]:9.2f} {row[1]:9.2f} {row[2]:9.2f}  "
            f"{medians[name, 'found']}"
        )
    user.delete()


if __name__ == "__main__":
    main()
