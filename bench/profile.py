"""Profile the daphne process under one of the bench loads with py-spy.

    .venv/bin/pip install py-spy   # once
    .venv/bin/python -m bench.profile --load stream [--streams 50] [--layer pubsub]

Loads: ``ttft`` (sequential short replies), ``stream`` (N streams at 20 tok/s),
``fast`` (one stream as fast as the upstream goes), ``idle`` (sockets open, nothing
sent). Writes collapsed stacks to bench/results/profile-<load>.txt and prints the
functions with the most samples (self and total).
"""

import argparse
import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import site
from bench.clients import LoopLag, direct_reply
from bench.run import CORE, FULL, PUBSUB, RESULTS, Bench, start_site, start_upstream


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


async def load(bench: Bench, origins, kind: str, streams: int, seconds: float):
    import openai

    bench.openai_client = openai.AsyncOpenAI(base_url=bench.upstream_url, api_key="x")
    await direct_reply(bench.openai_client, "bench 3 0", 30)
    deadline = time.monotonic() + seconds
    if kind == "ttft":
        (sock,) = await bench.open_sockets(origins, 1)
        while time.monotonic() < deadline:
            await sock.reply("bench 3 0", 30)
    elif kind == "fast":
        (sock,) = await bench.open_sockets(origins, 1)
        while time.monotonic() < deadline:
            await sock.reply("bench 5000 0", 60)
    elif kind == "stream":
        sockets = await bench.open_sockets(origins, streams)
        tokens = int(seconds * 20)
        with LoopLag() as lag:
            replies = await bench.site_load(sockets, tokens, 20, 1.0)
        print("client loop lag p99 ms", round(lag.p99_ms(), 2))
        print("statuses", collections.Counter(r.status for r in replies))
    elif kind == "idle":
        sockets = await bench.open_sockets(origins, streams)
        await asyncio.sleep(seconds)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", choices=["ttft", "stream", "fast", "idle"])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--layer", choices=["memory", "pubsub", "core"])
    parser.add_argument("--flush-ms", type=int)
    parser.add_argument("--root", help="run the site from another checkout")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    workdir = Path(tempfile.mkdtemp(prefix="chatbench-profile-"))
    if args.root:
        site.ROOT = Path(args.root)
    upstream, url = start_upstream(workdir)
    servers = []
    try:
        extra = {}
        if args.flush_ms is not None:
            extra["CHAT_FLUSH_MS"] = str(args.flush_ms)
        if args.layer in ("pubsub", "core"):
            extra["REDIS_URL"] = "redis://127.0.0.1:6379/0"
            extra["CHANNEL_LAYER_BACKEND"] = PUBSUB if args.layer == "pubsub" else CORE
            extra["CHANNEL_LAYER_PREFIX"] = f"benchprof{os.getpid()}"
        env = site.site_env(
            db_path=str(workdir / "bench.sqlite3"), upstream_url=url, extra=extra
        )
        site.migrate(env)
        site.setup_django(env)
        bench = Bench(sizes=FULL, upstream_url=url, env=env, workdir=workdir)
        bench.user = site.make_user("bench")
        bench.cookie = site.session_cookie(bench.user)
        servers = start_site(bench, 1, {}, "profile")
        out = RESULTS / f"profile-{args.load}.txt"
        RESULTS.mkdir(exist_ok=True)
        command = [py_spy, "record", "-p", str(servers[0].pid), "-f", "raw"]
        command.extend(["-o", str(out), "-r", "200", "--nonblocking"])
        spy = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1)
        cpu = servers[0].cpu_seconds()
        began = time.monotonic()
        asyncio.run(
            load(bench, [servers[0].origin], args.load, args.streams, args.seconds)
        )
        wall = time.monotonic() - began
        print(f"server CPU {servers[0].cpu_seconds() - cpu:.2f} s in {wall:.1f} s")
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
