"""Server-Sent Events beside the websocket, for the same load, in the same run.

    .venv/bin/python -m bench.sse            # about a minute on 2 cores
    .venv/bin/python -m bench.sse --quick

One server process as shipped (in-memory layer), the bench upstream of bench/run.py.
The SSE client is what an API client does: `POST /api/conversations/<id>/messages/`
with `"stream": true` on a new connection, reading events by offset until
`reply.done` (`bench.clients.events_reply`); the websocket client is figure 1's.
Each figure is SSE beside the websocket (the baseline), with the upstream read
directly as the floor; the targets are the issue's for the site's own streams
(+2 / +5 ms per token, +15 ms to the first token):

- S1 latency per token p50/p99: one stream, 50 tok/s (receive - stamp);
- S2 time to first token p50: send (POST, or the socket's send) → first delta, a
  new conversation each trial;
- S3 server CPU per 1,000 tokens: `cpu_streams` streams at 50 tok/s, websocket and
  SSE rounds interleaved.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench import site
from bench.clients import Reply, direct_reply, events_reply
from bench.run import (
    FULL,
    QUICK,
    RESULTS,
    Bench,
    latencies,
    pct,
    print_table,
    rnd,
    start_process,
    start_site,
    warm_up,
)

ROUNDS = 2  # S3: websocket, SSE, websocket, SSE


async def sse_load(bench: Bench, origin: str, tokens: int, rate: float) -> list[Reply]:
    """`cpu_streams` SSE streams, starts spread over half a second (as figure 7)."""
    ids = await bench.conversations(bench.sizes.cpu_streams)

    async def one(i, conversation_id):
        await asyncio.sleep(0.5 * i / len(ids))
        content = f"bench {tokens} {rate:g}"
        return await events_reply(
            origin, conversation_id, bench.cookie, content, tokens / rate + 30
        )

    return await asyncio.gather(*(one(i, c) for i, c in enumerate(ids)))


async def s1_latency(bench: Bench, origin: str) -> None:
    n = bench.sizes.latency_tokens
    content, within = f"bench {n} 50", n / 50 + 30
    (sock,) = await bench.open_sockets([origin], 1)
    ws = await sock.reply(content, within)
    await sock.close()
    (conversation_id,) = await bench.conversations(1)
    sse = await events_reply(origin, conversation_id, bench.cookie, content, within)
    direct = await direct_reply(bench.openai_client, content, within)
    w, s, d = latencies([ws]), latencies([sse]), latencies([direct])
    res = {"tokens": n, "sse_tokens": sse.stamps.tokens, "sse_status": sse.status}
    for name, values in (("websocket", w), ("sse", s), ("direct", d)):
        res[f"{name}_p50_ms"] = rnd(pct(values, 0.5), 3)
        res[f"{name}_p99_ms"] = rnd(pct(values, 0.99), 3)
    bench.results["S1_latency_per_token"] = res
    for q, target in (("p50", 2), ("p99", 5)):
        added = res[f"sse_{q}_ms"] - res[f"websocket_{q}_ms"]
        bench.row(
            f"S1 latency/token {q}, SSE (websocket as baseline; direct "
            f"{res[f'direct_{q}_ms']})",
            res[f"sse_{q}_ms"],
            res[f"websocket_{q}_ms"],
            f"{added:+.2f}",
            f"≤ +{target}",
            added <= target and sse.status == "complete",
            "ms",
        )


async def s2_ttft(bench: Bench, origin: str) -> None:
    ws_ttft, sse_ttft, direct_ttft = [], [], []
    for _ in range(bench.sizes.ttft_trials):
        (sock,) = await bench.open_sockets([origin], 1)
        await asyncio.sleep(0.05)  # as figure 2: the socket has joined its group
        ws_ttft.append((await sock.reply("bench 3 0", 30)).ttft_ms)
        await sock.close()
        (conversation_id,) = await bench.conversations(1)
        sse = await events_reply(origin, conversation_id, bench.cookie, "bench 3 0", 30)
        sse_ttft.append(sse.ttft_ms)
        direct_ttft.append(
            (await direct_reply(bench.openai_client, "bench 3 0", 30)).ttft_ms
        )
    res = {
        "trials": len(sse_ttft),
        "websocket_p50_ms": rnd(statistics.median(ws_ttft)),
        "sse_p50_ms": rnd(statistics.median(sse_ttft)),
        "direct_p50_ms": rnd(statistics.median(direct_ttft)),
    }
    added = res["sse_p50_ms"] - res["websocket_p50_ms"]
    bench.results["S2_ttft"] = res
    bench.row(
        f"S2 time to first token p50, SSE (direct {res['direct_p50_ms']})",
        res["sse_p50_ms"],
        res["websocket_p50_ms"],
        f"{added:+.1f}",
        "≤ +15",
        added <= 15,
        "ms",
    )


async def s3_cpu(bench: Bench, server: site.Server) -> None:
    n = bench.sizes.cpu_tokens
    cpu = {"websocket": 0.0, "sse": 0.0}
    tokens = {"websocket": 0, "sse": 0}
    for _ in range(ROUNDS):
        cpu_s, replies = await bench.cpu_load(server)
        cpu["websocket"] += cpu_s
        tokens["websocket"] += sum(r.stamps.tokens for r in replies)
        await asyncio.sleep(0.5)
        before = server.cpu_seconds()
        replies = await sse_load(bench, server.origin, n, 50)
        cpu["sse"] += server.cpu_seconds() - before
        tokens["sse"] += sum(r.stamps.tokens for r in replies)
    per_1000 = {k: round(cpu[k] / tokens[k] * 1000, 4) for k in cpu}
    ratio = per_1000["sse"] / per_1000["websocket"]
    bench.results["S3_cpu"] = {
        "rounds": ROUNDS,
        "streams": bench.sizes.cpu_streams,
        "tokens": tokens,
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_s_per_1000": per_1000,
        "ratio": round(ratio, 3),
    }
    bench.row(
        "S3 server CPU per 1,000 tokens, SSE (websocket as baseline)",
        per_1000["sse"],
        per_1000["websocket"],
        f"x{ratio:.2f}",
        "≤ x1.25",
        ratio <= 1.25,
        "s",
    )


async def run_all(bench: Bench, server: site.Server) -> None:
    import openai

    bench.openai_client = openai.AsyncOpenAI(
        base_url=bench.upstream_url, api_key="x", max_retries=0, timeout=60
    )
    await direct_reply(bench.openai_client, "bench 5 0", 30)
    await warm_up(bench, [server.origin])
    (conversation_id,) = await bench.conversations(1)
    await events_reply(server.origin, conversation_id, bench.cookie, "bench 5 0", 30)
    for figure in (s1_latency, s2_ttft):
        print(f"• {figure.__name__}", flush=True)
        await figure(bench, server.origin)
    print("• s3_cpu", flush=True)
    await s3_cpu(bench, server)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"chatbench-sse-{stamp}-"))
    began = time.monotonic()
    upstream, url = start_process(workdir, "bench.upstream", "--port", "0")
    try:
        env = site.site_env(db_path=str(workdir / "bench.sqlite3"), upstream_url=url)
        site.migrate(env)
        site.setup_django(env)
        bench = Bench(
            sizes=QUICK if args.quick else FULL,
            upstream_url=url,
            env=env,
            workdir=workdir,
        )
        bench.user = site.make_user("bench")
        bench.cookie = site.session_cookie(bench.user)
        (server,) = start_site(bench, 1, {}, "sse")
        try:
            asyncio.run(run_all(bench, server))
        finally:
            server.stop()
    finally:
        upstream.terminate()
        upstream.wait(10)
    print()
    table = print_table(bench.rows)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{stamp}-sse.json"
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "quick": args.quick,
                "elapsed_s": round(time.monotonic() - began, 1),
                "figures": bench.results,
                "table": table,
            },
            indent=2,
        )
    )
    print(f"\nresults: {out}; logs: {workdir}")


if __name__ == "__main__":
    main()
