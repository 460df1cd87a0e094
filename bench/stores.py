"""Figure 4's database part alone: 50 turns stored at once in one process.

    .venv/bin/python -m bench.stores [--pg-url URL] [--threads N] [--bursts 5]
        [--site-root DIR]

Stores the turns of 50 new conversations at once, as 50 sends would
(`replies._stored_with_a_run_channel(turns.store_turn, …)`), on SQLite or on a
scratch PostgreSQL database (`--pg-url`, dropped and created), with
CHAT_DATABASE_THREADS=N; prints the median, over `--bursts` bursts after one to warm
up, of each burst's median time to a stored turn. No server, no upstream: the
queue on the database thread(s) without figure 4's other work. `--site-root`
runs another checkout's code (to compare a change).
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import site

SENDS = 50


async def burst(conversation_ids: list[int]) -> float:
    from chat import replies
    from chat.replies import turns

    began = time.perf_counter()
    stored_after = []

    async def one(conversation_id):
        await replies._stored_with_a_run_channel(
            turns.store_turn,
            conversation_id=conversation_id,
            content="bench 100 50",
            client_id=None,
            edit_of=None,
        )
        stored_after.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(one(c) for c in conversation_ids))
    return statistics.median(stored_after)


async def bursts(ids: list[int], count: int) -> list[float]:
    await burst(ids[:SENDS])  # connections, caches
    return [await burst(ids[SENDS * (i + 1) : SENDS * (i + 2)]) for i in range(count)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", help="a scratch PostgreSQL database (recreated)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--bursts", type=int, default=5)
    parser.add_argument("--site-root", help="run another checkout's code")
    args = parser.parse_args(argv)
    if args.site_root:
        site.ROOT = Path(args.site_root).resolve()
        sys.path.insert(0, str(site.ROOT))
    workdir = tempfile.mkdtemp(prefix="chatbench-stores-")
    env = site.site_env(
        db_path=f"{workdir}/bench.sqlite3",
        database_url=args.pg_url or "",
        upstream_url="http://127.0.0.1:9/v1",  # never called
        extra={"CHAT_DATABASE_THREADS": str(args.threads)},
    )
    if args.pg_url:
        site.create_postgres(args.pg_url)
    site.migrate(env)
    site.setup_django(env)
    user = site.make_user("bench")
    ids = site.make_conversations(user, SENDS * (args.bursts + 1))
    medians = asyncio.run(bursts(ids, args.bursts))
    database = "PostgreSQL" if args.pg_url else "SQLite"
    print(
        f"{database}, threads={args.threads}, {site.ROOT}: stored p50 "
        f"{statistics.median(medians):.1f} ms (bursts: {[round(m) for m in medians]})"
    )


if __name__ == "__main__":
    main()
