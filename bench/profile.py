"""Profile the site's server process under a bench load with py-spy.

    .venv/bin/pip install py-spy   # once
    .venv/bin/python -m bench.profile --load stream [--streams 50] [--layer pubsub]
        [--rate 20] [--server uvicorn --server-args '--loop uvloop'] [--root DIR]

Loads: ``ttft`` (sequential short replies), ``new`` (the same, each on a new
conversation and socket: a reply's fixed costs, with its title request, which the
bench upstream refuses at once: it streams only), ``stream`` (N streams at
--rate tok/s; prints server CPU per 1,000 tokens), ``burst`` (figure 4 repeated:
N sockets send at once, 10-token replies), ``fast`` (one stream as fast as the
upstream goes),
``idle`` (sockets open, nothing sent), ``page`` (figure 10's GETs of the page of a
conversation of 500 messages, one after another). Writes collapsed stacks to
bench/results/profile-<load>.txt (or --out) and prints the functions with the most
samples (self and total).
"""

import argparse
import asyncio
import collections
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import site
from bench.clients import LoopLag, direct_reply
from bench.run import (
    FULL,
    RESULTS,
    Bench,
    add_server_arguments,
    layer_env,
    start_process,
    start_site,
    use_server_arguments,
)


def summarize(path: Path, top: int = 25) -> None:
    own, total = collections.Counter(), collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"{samples} samples")
    print("— self —")
    for frame, n in own.most_common(top):
        print(f"{100 * n / samples:5.1f}%  {frame}")
    print("— total —")
    for frame, n in total.most_common(top):
        print(f"{100 * n / samples:5.1f}%  {frame}")


async def load(
    bench: Bench, origins, kind: str, streams: int, seconds: float, rate: float
):
    import openai

    bench.openai_client = openai.AsyncOpenAI(base_url=bench.upstream_url, api_key="x")
    await direct_reply(bench.openai_client, "bench 3 0", 30)
    deadline = time.monotonic() + seconds
    if kind == "ttft":
        (sock,) = await bench.open_sockets(origins, 1)
        replies = 0
        while time.monotonic() < deadline:
            await sock.reply("bench 3 0", 30)
            replies += 1
        return {"replies": replies}
    elif kind == "new":
        # A reply's fixed costs: each on a new conversation (so a title request).
        replies = 0
        while time.monotonic() < deadline:
            (sock,) = await bench.open_sockets(origins, 1)
            await sock.reply("bench 3 0", 30)
            await bench.close_sockets([sock])
            replies += 1
        return {"replies": replies}
    elif kind == "fast":
        (sock,) = await bench.open_sockets(origins, 1)
        while time.monotonic() < deadline:
            await sock.reply("bench 5000 0", 60)
    elif kind == "stream":
        sockets = await bench.open_sockets(origins, streams)
        tokens = int(seconds * rate)
        with LoopLag() as lag:
            replies = await bench.site_load(sockets, tokens, rate, 1.0)
        print("client loop lag p99 ms", round(lag.p99_ms(), 2))
        print("statuses", collections.Counter(r.status for r in replies))
        tokens = sum(r.stamps.tokens for r in replies)
        print("tokens relayed", tokens)
        return {"tokens": tokens}
    elif kind == "burst":
        # Figure 4's load, repeated: all sockets send at once, short replies.
        # Sockets open once (before profiling's interesting part), so the samples
        # are the sends and replies, not the websocket handshakes.
        sockets = await bench.open_sockets(origins, streams)
        await asyncio.sleep(0.5)
        rounds, medians = 0, []
        while time.monotonic() < deadline and rounds < 20:
            replies = await bench.site_load(sockets, 10, rate)
            ttft = sorted(r.ttft_ms for r in replies if r.ttft_ms is not None)
            medians.append(ttft[len(ttft) // 2])
            print(f"burst {rounds}: TTFT p50 {medians[-1]:.0f} ms", flush=True)
            rounds += 1
            await asyncio.sleep(0.2)
        # The first burst also opens the upstream connections: left out.
        print(
            f"median of the bursts' TTFT p50: {statistics.median(medians[1:]):.0f} ms"
        )
        return {"replies": rounds * streams}
    elif kind == "page":
        gets = 0
        while time.monotonic() < deadline:
            await bench.page_get(origins[0], bench.long_id)
            gets += 1
        print(f"{gets} page GETs, {bench.page_bytes[bench.long_id]} bytes each")
    elif kind == "idle":
        sockets = await bench.open_sockets(origins, streams)
        await asyncio.sleep(seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--load",
        choices=["ttft", "new", "stream", "burst", "fast", "idle", "page"],
        required=True,
    )
    parser.add_argument("--rate", type=float, default=20, help="tokens/s per stream")
    parser.add_argument(
        "--no-samples",
        action="store_true",
        help="no py-spy (it takes a core's worth of CPU): the load's figures only",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="sample C frames too (uvloop, the interpreter); slower to record",
    )
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--layer", choices=["memory", "pubsub", "core"])
    parser.add_argument("--flush-ms", type=int)
    parser.add_argument("--root", help="run the site from another checkout")
    parser.add_argument("--site-root", dest="root", help="the same as --root")
    parser.add_argument("--out", help="collapsed stacks file (default: results/)")
    parser.add_argument(
        "--pg-url",
        help="run the site on this scratch PostgreSQL database (dropped and "
        "created), not SQLite",
    )
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    use_server_arguments(args)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="chatbench-profile-"))
    if args.root:
        site.ROOT = Path(args.root)
    upstream, url = start_process(workdir, "bench.upstream", "--port", "0")
    servers = []
    try:
        extra = {}
        if args.flush_ms is not None:
            extra["CHAT_FLUSH_MS"] = str(args.flush_ms)
        if args.layer in ("pubsub", "core"):
            extra.update(layer_env(args.layer))
        if args.pg_url:
            site.create_postgres(args.pg_url)
        env = site.site_env(
            db_path=str(workdir / "bench.sqlite3"),
            database_url=args.pg_url or "",
            upstream_url=url,
            extra=extra,
        )
        site.migrate(env)
        site.setup_django(env)
        bench = Bench(sizes=FULL, upstream_url=url, env=env, workdir=workdir)
        bench.user = site.make_user("bench")
        bench.cookie = site.session_cookie(bench.user)
        if args.load == "page":
            bench.page_cookie = bench.cookie
            bench.long_id = site.make_long_conversation(bench.user, 500)
        servers = start_site(bench, 1, {}, "profile")
        out = Path(args.out) if args.out else RESULTS / f"profile-{args.load}.txt"
        RESULTS.mkdir(exist_ok=True)
        command = [py_spy, "record", "-p", str(servers[0].pid), "-f", "raw"]
        command.extend(["-o", str(out), "-r", "200"])
        # --native pauses the process to unwind C frames; else sample without.
        command.append("--native" if args.native else "--nonblocking")
        spy = None
        if not args.no_samples:
            spy = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        time.sleep(1)
        cpu = servers[0].cpu_seconds()
        began = time.monotonic()
        counted = asyncio.run(
            load(
                bench,
                [servers[0].origin],
                args.load,
                args.streams,
                args.seconds,
                args.rate,
            )
        )
        wall = time.monotonic() - began
        used = servers[0].cpu_seconds() - cpu
        print(f"server CPU {used:.2f} s in {wall:.1f} s")
        for what, count in (counted or {}).items():
            if what == "tokens":
                print(f"server CPU per 1,000 tokens {used / count * 1000:.3f} s")
            else:
                print(
                    f"{count} {what}: server CPU per one {used / count * 1000:.2f} ms"
                )
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
            summarize(out)
    finally:
        for server in servers:
            server.stop()
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    main()
