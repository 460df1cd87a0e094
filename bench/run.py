"""What the site adds between the model and the screen, beside the model read directly.

    .venv/bin/python -m bench.run [--quick] [--flush-ms MS] [--only 1,2,5]

Starts the bench upstream (bench/upstream.py) in its own process, migrates a
scratch SQLite database (and for figures 4pg and 6 a scratch PostgreSQL one), runs the
site as real server processes (`python -m chatsite.serve`, or daphne or plain
uvicorn with `--server`) and drives them
with real websocket clients; the baseline reads the same upstream directly with
the openai SDK in the same run. Prints a table and writes
bench/results/<timestamp>.json. See bench/README.md for what each figure means.

Long on purpose: one figure per method of `Bench`, each beside its own baseline, so
the figures, their loads and the table they fill read in one place.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import openai
from asgiref.sync import sync_to_async

from bench import site
from bench.api import fig11_api
from bench.clients import (
    LoopLag,
    Reply,
    SiteSocket,
    direct_reply,
    raw_reply,
    relay_reply,
)
from bench.local import DirectReader, fig12_local, local_env

BENCH_ROOT = Path(__file__).resolve().parent.parent
RESULTS = BENCH_ROOT / "bench" / "results"
PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
CORE = "channels_redis.core.RedisChannelLayer"


def pct(values, q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(ns_values) -> list[float]:
    return [v / 1e6 for v in ns_values]


def latencies(replies: list[Reply]) -> list[float]:
    out = []
    for reply in replies:
        out.extend(reply.stamps.latencies)
    return ms(out)


def rnd(value, digits=2):
    return None if value is None else round(value, digits)


@dataclass
class Sizes:
    latency_tokens: int
    ttft_trials: int
    fast_tokens: int
    fast_trials: int
    burst_streams: int
    burst_tokens: int
    burst_rounds: int  # figure 4: interleaved direct/site rounds, median taken (5:
    # a round measured x0.5 to x3 beside its neighbours, on a quiet machine)
    cpu_streams: int
    cpu_tokens: int
    step_tokens: int
    steps: list[int]
    stagger_s: float
    page_gets: int
    step_budget_s: float  # wall-time budget for one ladder of steps
    live_rounds: int  # figure 7b: interleaved rounds of each server
    cpu_rounds: int  # figure 7: interleaved rounds of site, relay and SDK
    local_rounds: int  # figure 12: interleaved rounds of site and direct
    local_tokens: int  # figure 12: the local model's answer


FULL = Sizes(
    latency_tokens=250,
    ttft_trials=20,
    fast_tokens=5000,
    fast_trials=3,
    burst_streams=50,
    burst_tokens=100,
    burst_rounds=5,
    cpu_streams=20,
    cpu_tokens=250,
    step_tokens=100,
    steps=[25, 50, 100, 200, 300],
    stagger_s=1.0,
    page_gets=20,
    step_budget_s=150,
    live_rounds=3,
    cpu_rounds=3,
    local_rounds=5,
    local_tokens=200,
)
QUICK = Sizes(
    latency_tokens=60,
    ttft_trials=5,
    fast_tokens=1000,
    fast_trials=1,
    burst_streams=20,
    burst_tokens=40,
    burst_rounds=1,
    cpu_streams=5,
    cpu_tokens=60,
    step_tokens=30,
    steps=[10, 25],
    stagger_s=0.3,
    page_gets=5,
    step_budget_s=30,
    live_rounds=1,
    cpu_rounds=1,
    local_rounds=2,
    local_tokens=60,
)


@dataclass
class Bench:
    sizes: Sizes
    upstream_url: str
    env: dict
    workdir: Path
    cookie: str = ""
    user: object = None
    results: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    openai_client: object = None
    page_cookie: str = ""
    page_bytes: dict = field(default_factory=dict)
    layer: str = "memory"
    local_threads: int | None = None  # figure 12: CHAT_LOCAL_THREADS of both sides
    pg_url: str = ""  # figures 4pg and 6: a scratch PostgreSQL database
    # The current figure's (7, 7b) rounds: the site's CPU as its threads' run
    # time and as the process's ticks (each figure starts a list of its own).
    ticks_check: list = field(default_factory=list)

    def baseline_p99(self) -> float:
        """The direct read's p99 per-token latency (figure 1), subtracted later."""
        res = self.results.get("1_latency_per_token")
        return res["direct_p99_ms"] if res else 0.0

    def row(self, figure, site_value, baseline, delta, target, passed, unit=""):
        self.rows.append((figure, site_value, baseline, delta, target, passed, unit))

    # Helpers.

    async def conversations(self, count: int) -> list[int]:
        return await sync_to_async(site.make_conversations)(self.user, count)

    async def open_sockets(self, origins: list[str], count: int) -> list[SiteSocket]:
        ids = await self.conversations(count)
        sockets = [
            SiteSocket(origins[i % len(origins)], cid, self.cookie)
            for i, cid in enumerate(ids)
        ]
        gate = asyncio.Semaphore(25)

        async def open_one(sock):
            async with gate:
                await sock.open()

        await asyncio.gather(*(open_one(s) for s in sockets))
        return sockets

    async def close_sockets(self, sockets) -> None:
        await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    async def site_load(
        self,
        sockets,
        tokens: int,
        rate: float,
        stagger_s: float = 0,
        markdown: bool = False,
    ) -> list[Reply]:
        timeout = tokens / rate + 30 if rate else 60
        content = f"bench {tokens} {rate:g}" + (" md" if markdown else "")

        async def one(i, sock):
            if stagger_s:
                await asyncio.sleep(stagger_s * i / len(sockets))
            return await sock.reply(content, timeout, stamped=not markdown)

        return await asyncio.gather(*(one(i, s) for i, s in enumerate(sockets)))

    async def direct_load(self, streams: int, tokens: int, rate: float) -> list[Reply]:
        timeout = tokens / rate + 30 if rate else 60
        return await asyncio.gather(
            *(
                direct_reply(self.openai_client, f"bench {tokens} {rate:g}", timeout)
                for _ in range(streams)
            )
        )

    # Figures.

    async def fig1_latency(self, origin: str) -> None:
        n = self.sizes.latency_tokens
        (sock,) = await self.open_sockets([origin], 1)
        site_reply = await sock.reply(f"bench {n} 50", n / 50 + 30)
        await sock.close()
        direct = await direct_reply(self.openai_client, f"bench {n} 50", n / 50 + 30)
        s, d = latencies([site_reply]), latencies([direct])
        res = {
            "tokens": n,
            "site_tokens": site_reply.stamps.tokens,
            "site_frames": site_reply.frames,
            "site_p50_ms": rnd(pct(s, 0.5), 3),
            "site_p99_ms": rnd(pct(s, 0.99), 3),
            "site_max_ms": rnd(max(s, default=None), 3),
            "direct_p50_ms": rnd(pct(d, 0.5), 3),
            "direct_p99_ms": rnd(pct(d, 0.99), 3),
        }
        res["added_p50_ms"] = rnd(res["site_p50_ms"] - res["direct_p50_ms"], 3)
        res["added_p99_ms"] = rnd(res["site_p99_ms"] - res["direct_p99_ms"], 3)
        self.results["1_latency_per_token"] = res
        self.row(
            "1 added latency/token p50 (1 stream, 50 tok/s)",
            res["site_p50_ms"],
            res["direct_p50_ms"],
            f"+{res['added_p50_ms']:.2f}",
            "≤ +1.5",
            res["added_p50_ms"] <= 1.5,
            "ms",
        )
        self.row(
            "1 added latency/token p99",
            res["site_p99_ms"],
            res["direct_p99_ms"],
            f"+{res['added_p99_ms']:.2f}",
            "≤ +5",
            res["added_p99_ms"] <= 5,
            "ms",
        )

    async def fig2_ttft(self, origin: str) -> None:
        # A new conversation per trial: the site then sends the model the same one
        # message the direct read does (a longer history costs the SDK more).
        site_ttft, direct_ttft = [], []
        for _ in range(self.sizes.ttft_trials):
            (sock,) = await self.open_sockets([origin], 1)
            await asyncio.sleep(0.05)
            reply = await sock.reply("bench 3 0", 30)
            site_ttft.append(reply.ttft_ms)
            await sock.close()
            direct = await direct_reply(self.openai_client, "bench 3 0", 30)
            direct_ttft.append(direct.ttft_ms)
            await asyncio.sleep(0.05)
        res = {
            "trials": len(site_ttft),
            "site_p50_ms": rnd(statistics.median(site_ttft), 2),
            "site_p90_ms": rnd(pct(site_ttft, 0.9), 2),
            "direct_p50_ms": rnd(statistics.median(direct_ttft), 2),
            "direct_p90_ms": rnd(pct(direct_ttft, 0.9), 2),
        }
        res["added_p50_ms"] = rnd(res["site_p50_ms"] - res["direct_p50_ms"], 2)
        self.results["2_ttft"] = res
        self.row(
            "2 time to first token p50 (send → first delta)",
            res["site_p50_ms"],
            res["direct_p50_ms"],
            f"+{res['added_p50_ms']:.1f}",
            "≤ +15",
            res["added_p50_ms"] <= 15,
            "ms",
        )

    async def fig3_throughput(self, origin: str) -> None:
        n = self.sizes.fast_tokens
        site_rates, direct_rates, lost = [], [], 0
        (sock,) = await self.open_sockets([origin], 1)
        frames = []
        for _ in range(self.sizes.fast_trials):
            reply = await sock.reply(f"bench {n} 0", 60)
            lost += n - reply.stamps.tokens
            frames.append(reply.frames)
            site_rates.append(reply.stamps.tokens / reply.duration_s)
            direct = await direct_reply(self.openai_client, f"bench {n} 0", 60)
            direct_rates.append(direct.stamps.tokens / direct.duration_s)
        await sock.close()
        site_rate = statistics.median(site_rates)
        direct_rate = statistics.median(direct_rates)
        res = {
            "tokens": n,
            "trials": len(site_rates),
            "site_tokens_per_s": round(site_rate),
            "direct_tokens_per_s": round(direct_rate),
            "ratio": round(site_rate / direct_rate, 3),
            "site_frames_per_reply": frames,
            "tokens_lost": lost,
        }
        self.results["3_throughput"] = res
        self.row(
            f"3 one stream, fastest ({n} tokens): tokens/s",
            res["site_tokens_per_s"],
            res["direct_tokens_per_s"],
            f"x{res['ratio']:.2f}",
            "≥ x0.95",
            res["ratio"] >= 0.95 and lost == 0,
            "tok/s",
        )

    async def fig4_burst(self, origin: str, database: str = "SQLite") -> None:
        streams, n = self.sizes.burst_streams, self.sizes.burst_tokens
        rounds = []
        for _ in range(self.sizes.burst_rounds):
            rounds.append(await self._burst_round(origin))
            await asyncio.sleep(1)  # the rounds' titles and final writes
        site_p50 = [r["site_ttft_p50_ms"] for r in rounds]
        direct_p50 = [r["direct_ttft_p50_ms"] for r in rounds]
        res = {
            "database": database,
            "streams": streams,
            "tokens": n,
            "site_ttft_p50_ms": rnd(statistics.median(site_p50)),
            "direct_ttft_p50_ms": rnd(statistics.median(direct_p50)),
            # Each round's site burst beside its own direct one, then the median.
            "ratio": rnd(statistics.median(r["ratio"] for r in rounds)),
            "complete": min(r["complete"] for r in rounds),
            "rounds": rounds,
        }
        key = "4_burst_ttft" if database == "SQLite" else "4pg_burst_ttft"
        self.results[key] = res
        self.row(
            f"4 {streams} streams started together: TTFT p50, {database}",
            res["site_ttft_p50_ms"],
            res["direct_ttft_p50_ms"],
            f"x{res['ratio']:.2f}",
            "≤ x2",
            res["ratio"] <= 2 and res["complete"] == streams,
            "ms",
        )

    async def _burst_round(self, origin: str) -> dict:
        streams, n = self.sizes.burst_streams, self.sizes.burst_tokens
        sockets = await self.open_sockets([origin], streams)
        # The direct read first: after the site's burst the server still works
        # (50 title requests to the same upstream, renders, final writes), which
        # would slow a baseline read then. A client of its own, used once as the
        # server's was by warm_up: both open the burst's other connections anew.
        client = openai.AsyncOpenAI(
            base_url=self.upstream_url, api_key="x", max_retries=0, timeout=60
        )
        try:
            await direct_reply(client, "bench 5 0", 30)
            timeout = n / 50 + 30
            direct = await asyncio.gather(
                *(direct_reply(client, f"bench {n} 50", timeout) for _ in sockets)
            )
        finally:
            await client.close()
        await asyncio.sleep(0.5)
        with LoopLag() as lag:
            replies = await self.site_load(sockets, n, 50)
        await self.close_sockets(sockets)
        site_ttft = [r.ttft_ms for r in replies if r.ttft_ms is not None]
        direct_ttft = [r.ttft_ms for r in direct if r.ttft_ms is not None]
        s, d = latencies(replies), latencies(direct)
        res = {
            "site_ttft_p50_ms": rnd(statistics.median(site_ttft)),
            "site_ttft_max_ms": rnd(max(site_ttft)),
            "direct_ttft_p50_ms": rnd(statistics.median(direct_ttft)),
            "direct_ttft_max_ms": rnd(max(direct_ttft)),
            "site_latency_p99_ms": rnd(pct(s, 0.99)),
            "direct_latency_p99_ms": rnd(pct(d, 0.99)),
            "complete": sum(r.status == "complete" for r in replies),
            "client_loop_lag_p99_ms": rnd(lag.p99_ms()),
        }
        res["ratio"] = rnd(res["site_ttft_p50_ms"] / res["direct_ttft_p50_ms"])
        print(f"    burst: {res}", flush=True)
        return res

    @contextlib.asynccontextmanager
    async def on_postgres(self):
        """This process's ORM calls on the scratch PostgreSQL database, with its
        own user and session there; the servers started meanwhile get
        `{"DATABASE_URL": ...}` from the caller."""
        kept = self.user, self.cookie
        site.use_database("postgres")
        try:
            self.user = await sync_to_async(site.make_user)("bench")
            self.cookie = await sync_to_async(site.session_cookie)(self.user)
            yield {"DATABASE_URL": self.pg_url}
        finally:
            site.use_database("default")
            self.user, self.cookie = kept

    async def fig4_on_postgres(self) -> None:
        """Figure 4 again, the server and this process on PostgreSQL."""
        async with self.on_postgres() as database:
            (server,) = start_site(self, 1, database, "postgres")
            try:
                await warm_up(self, [server.origin])
                await self.fig4_burst(server.origin, "PostgreSQL")
            finally:
                server.stop()

    async def cpu_load(
        self, server: site.Server, markdown: bool = False
    ) -> tuple[float, list[Reply]]:
        """Figure 7's load on one server: its CPU seconds and the replies."""
        streams, n = self.sizes.cpu_streams, self.sizes.cpu_tokens
        sockets = await self.open_sockets([server.origin], streams)
        await asyncio.sleep(0.5)
        before, ticks = server.cpu_seconds(), site.cpu_ticks_seconds(server.pid)
        replies = await self.site_load(sockets, n, 50, stagger_s=0.5, markdown=markdown)
        used = server.cpu_seconds() - before
        # The threads' run time, checked against the process's own ticks (which
        # also count threads that ended): they agree within a tick or two.
        self.ticks_check.append(
            (round(used, 4), site.cpu_ticks_seconds(server.pid) - ticks)
        )
        await self.close_sockets(sockets)
        return used, replies

    async def fig7_cpu(self, server: site.Server) -> None:
        """The site's CPU per token beside the bare relay's (the limit) and the
        SDK's read of the same load, in interleaved rounds; medians."""
        streams, n = self.sizes.cpu_streams, self.sizes.cpu_tokens
        content, within_s = f"bench {n} 50", n / 50 + 30
        self.ticks_check = []
        relay_proc, relay_url = start_process(
            self.workdir, "bench.relay", "--upstream", self.upstream_url
        )
        site_s, relay_s, sdk_s = [], [], []
        try:
            for _ in range(self.sizes.cpu_rounds):
                cpu, replies = await self.cpu_load(server)
                site_s.append(cpu / sum(r.stamps.tokens for r in replies) * 1000)

                before = site.cpu_seconds(relay_proc.pid)
                relayed = await self.staggered(
                    streams, 0.5, lambda: relay_reply(relay_url, content, within_s)
                )
                cpu = site.cpu_seconds(relay_proc.pid) - before
                relay_s.append(cpu / sum(r.stamps.tokens for r in relayed) * 1000)

                before = time.process_time()
                direct = await self.direct_load(streams, n, 50)
                cpu = time.process_time() - before
                sdk_s.append(cpu / sum(r.stamps.tokens for r in direct) * 1000)
        finally:
            relay_proc.terminate()
            relay_proc.wait(10)
        site_cpu, relay_cpu, sdk_cpu = map(statistics.median, (site_s, relay_s, sdk_s))
        res = {
            "streams": streams,
            "tokens_per_stream": n,
            "rounds": self.sizes.cpu_rounds,
            "site_cpu_s_per_1000": round(site_cpu, 4),
            "bare_relay_cpu_s_per_1000": round(relay_cpu, 4),
            "direct_sdk_cpu_s_per_1000": round(sdk_cpu, 4),
            "site_over_relay": round(site_cpu / relay_cpu, 2),
            "site_over_sdk": round(site_cpu / sdk_cpu, 2),
            "each_round": {"site": site_s, "relay": relay_s, "sdk": sdk_s},
            # The site's CPU per round: threads' run time, and the process's ticks.
            "site_cpu_s_and_ticks": self.ticks_check,
        }
        self.results["7_cpu"] = res
        self.row(
            "7 server CPU per 1,000 tokens ÷ bare relay",
            res["site_cpu_s_per_1000"],
            res["bare_relay_cpu_s_per_1000"],
            f"x{res['site_over_relay']:.2f}",
            "≤ x2.5",
            res["site_over_relay"] <= 2.5,
            "s",
        )
        self.row(
            "7 the same ÷ the SDK's own read (direct)",
            res["site_cpu_s_per_1000"],
            res["direct_sdk_cpu_s_per_1000"],
            f"x{res['site_over_sdk']:.2f}",
            "(ratio)",
            None,
            "s",
        )

    async def staggered(self, count: int, stagger_s: float, read) -> list[Reply]:
        """`count` reads started over `stagger_s` seconds, as the site loads are."""

        async def one(i):
            await asyncio.sleep(stagger_s * i / count)
            return await read()

        return await asyncio.gather(*(one(i) for i in range(count)))

    async def fig7b_live_format(self, live: site.Server, plain: site.Server) -> None:
        """Figure 7's load as Markdown, live formatting on against off, interleaved."""
        self.ticks_check = []
        cpu = {"on": 0.0, "off": 0.0}
        tokens = {"on": 0, "off": 0}
        blocks = {"on": 0, "off": 0}
        incomplete = {"on": 0, "off": 0}
        for _ in range(self.sizes.live_rounds):
            for name, server in (("off", plain), ("on", live)):
                cpu_s, replies = await self.cpu_load(server, markdown=True)
                cpu[name] += cpu_s
                # Markdown answers carry no stamps: count the tokens asked for.
                complete = [r for r in replies if r.status == "complete"]
                tokens[name] += len(complete) * self.sizes.cpu_tokens
                incomplete[name] += len(replies) - len(complete)
                blocks[name] += sum(r.blocks for r in replies)
        per_1000 = {name: cpu[name] / tokens[name] * 1000 for name in cpu}
        ratio = per_1000["on"] / per_1000["off"]
        res = {
            "rounds": self.sizes.live_rounds,
            "streams": self.sizes.cpu_streams,
            "tokens": tokens,
            "blocks_frames": blocks,
            "replies_not_complete": incomplete,
            "cpu_s_per_1000_live": round(per_1000["on"], 4),
            "cpu_s_per_1000_plain": round(per_1000["off"], 4),
            "ratio": round(ratio, 3),
            # Each round's site CPU, off and on in turn: run time, and ticks.
            "site_cpu_s_and_ticks": self.ticks_check,
        }
        self.results["7b_live_format_cpu"] = res
        self.row(
            "7b server CPU per 1,000 Markdown tokens, live format (off: baseline)",
            res["cpu_s_per_1000_live"],
            res["cpu_s_per_1000_plain"],
            f"x{ratio:.2f}",
            "≤ x1.25",
            ratio <= 1.25
            and blocks["on"] > 0 == blocks["off"]
            and incomplete == {"on": 0, "off": 0},
            "s",
        )

    async def page_get(self, origin: str, conversation_id: int) -> float:
        """One GET of a conversation page as a browser asks for it; milliseconds."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", int(origin.rsplit(":", 1)[1])
        )
        request = (
            f"GET /c/{conversation_id}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Cookie: {self.page_cookie}\r\nConnection: close\r\n\r\n"
        ).encode()
        started = time.perf_counter()
        writer.write(request)
        data = await reader.read()
        elapsed = (time.perf_counter() - started) * 1000
        writer.close()
        status = data[:12].decode()
        if " 200" not in status:
            raise RuntimeError(f"page answered {status!r}")
        self.page_bytes[conversation_id] = len(data)
        return elapsed

    async def fig10_page(self, origin: str, long_id: int, empty_id: int) -> None:
        # Interleaved, so the machine's noise falls on both pages alike.
        times = {long_id: [], empty_id: []}
        for i in range(2 + self.sizes.page_gets):
            for cid in (long_id, empty_id):
                elapsed = await self.page_get(origin, cid)
                if i >= 2:  # two warm-ups each
                    times[cid].append(elapsed)
        long_ms = statistics.median(times[long_id])
        empty_ms = statistics.median(times[empty_id])
        res = {
            "gets": self.sizes.page_gets,
            "p50_ms_500_messages": rnd(long_ms),
            "p90_ms_500_messages": rnd(pct(times[long_id], 0.9)),
            "p50_ms_empty": rnd(empty_ms),
            "ratio": rnd(long_ms / empty_ms),
            "bytes_500_messages": self.page_bytes[long_id],
        }
        self.results["10_page"] = res
        self.row(
            "10 page with 500 messages: GET p50 (empty page as baseline)",
            res["p50_ms_500_messages"],
            res["p50_ms_empty"],
            f"x{res['ratio']:.2f}",
            "≤ x3",
            res["ratio"] <= 3,
            "ms",
        )

    async def ladder(self, origins: list[str], baseline_p99_ms: float) -> dict:
        """Step up concurrent streams at 20 tokens/s until one step fails."""
        sizes = self.sizes
        steps, largest, first_failed = [], 0, None
        started = time.monotonic()
        for n in sizes.steps:
            if time.monotonic() - started > sizes.step_budget_s:
                steps.append({"streams": n, "skipped": "time budget spent"})
                break
            sockets = await self.open_sockets(origins, n)
            await asyncio.sleep(0.3)
            with LoopLag() as lag:
                t0 = time.monotonic()
                replies = await self.site_load(
                    sockets, sizes.step_tokens, 20, sizes.stagger_s
                )
                wall = time.monotonic() - t0
            await self.close_sockets(sockets)
            stored = await sync_to_async(site.stored_texts)(
                [r.message_id for r in replies if r.message_id]
            )
            lost = 0
            for r in replies:
                ok = (
                    r.status == "complete"
                    and r.gaps == 0
                    and r.stamps.tokens == sizes.step_tokens
                    and stored.get(r.message_id, ("", None))[1] == r.text
                )
                lost += not ok
            lat = latencies(replies)
            p99 = pct(lat, 0.99)
            added = None if p99 is None else p99 - baseline_p99_ms
            ttft = [r.ttft_ms for r in replies if r.ttft_ms is not None]
            passed = lost == 0 and added is not None and added <= 100
            steps.append(
                {
                    "streams": n,
                    "passed": passed,
                    "replies_with_loss_or_error": lost,
                    "statuses": sorted({r.status for r in replies}),
                    "p50_ms": rnd(pct(lat, 0.5)),
                    "p99_ms": rnd(p99),
                    "added_p99_ms": rnd(added),
                    "ttft_p50_ms": rnd(pct(ttft, 0.5)),
                    "tokens_per_s_delivered": round(
                        sum(r.stamps.tokens for r in replies) / wall
                    ),
                    "client_loop_lag_p99_ms": rnd(lag.p99_ms()),
                }
            )
            print(f"    {n} streams: {steps[-1]}", flush=True)
            if not passed:
                first_failed = n
                break
            largest = n
            await asyncio.sleep(1)
        # Does the rig (upstream + this client process) itself hold the load that
        # failed (or the top step)? The same streams read with a bare SSE reader.
        check_n = first_failed or largest
        rig = None
        if check_n:
            with LoopLag() as lag:
                rig_replies = await asyncio.gather(
                    *(self._staggered_raw(i, check_n) for i in range(check_n))
                )
            rig_lat = latencies(rig_replies)
            rig = {
                "streams": check_n,
                "p99_ms": rnd(pct(rig_lat, 0.99)),
                "complete": sum(r.status == "complete" for r in rig_replies),
                "client_loop_lag_p99_ms": rnd(lag.p99_ms()),
            }
        return {"largest_passing": largest, "steps": steps, "rig_check": rig}

    async def _staggered_raw(self, i: int, n: int) -> Reply:
        await asyncio.sleep(self.sizes.stagger_s * i / n)
        tokens = self.sizes.step_tokens
        return await raw_reply(
            self.upstream_url, f"bench {tokens} 20", tokens / 20 + 30
        )


def layer_env(layer: str) -> dict:
    """Site environment for a channel layer: memory, pubsub or core (Redis)."""
    if layer == "memory":
        return {}
    backend = PUBSUB if layer == "pubsub" else CORE
    short = backend.rsplit(".", 1)[1]
    return {
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CHANNEL_LAYER_BACKEND": backend,
        "CHANNEL_LAYER_PREFIX": f"bench{os.getpid()}{short[:5]}",
        "CACHE_KEY_PREFIX": f"bench{os.getpid()}",
    }


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        choices=["site", "daphne", "uvicorn"],
        default="site",
        help="ASGI server of the site (site: python -m chatsite.serve, as shipped; "
        "uvicorn: --ws websockets --loop asyncio "
        "--http h11, no permessage-deflate, unless --server-args says otherwise)",
    )
    parser.add_argument(
        "--server-args",
        default="",
        help="extra command-line options for the server, e.g. "
        "'--ws wsproto --loop uvloop --http httptools'",
    )


def use_server_arguments(args) -> None:
    site.SERVER = args.server
    site.SERVER_ARGS = shlex.split(args.server_args)


def start_process(
    workdir: Path, module: str, *args: str
) -> tuple[subprocess.Popen, str]:
    """Start a bench helper process (upstream, relay); return it and the URL it
    prints on its first line."""
    name = module.rsplit(".", 1)[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=BENCH_ROOT,  # the bench's own checkout, also with --site-root
        stdout=subprocess.PIPE,
        stderr=open(workdir / f"{name}.log", "ab"),
        text=True,
    )
    url = proc.stdout.readline().strip()
    if "://127.0.0.1:" not in url:
        proc.kill()
        raise RuntimeError(f"bench {name} did not start: {url!r}")
    return proc, url


def start_site(bench: Bench, count: int, extra: dict, name: str) -> list:
    env = {**bench.env, **extra}
    servers = [
        site.Server(env, bench.workdir / f"{name}-{i}.log") for i in range(count)
    ]
    for server in servers:
        server.wait_ready()
    return servers


async def warm_up(bench: Bench, origins: list[str]) -> None:
    sockets = await bench.open_sockets(origins, len(origins))
    await asyncio.gather(*(s.reply("bench 5 0", 30) for s in sockets))
    await bench.close_sockets(sockets)


async def run_all(bench: Bench, only: set, long_id: int, empty_id: int) -> None:
    bench.openai_client = openai.AsyncOpenAI(
        base_url=bench.upstream_url, api_key="x", max_retries=0, timeout=60
    )
    await direct_reply(bench.openai_client, "bench 5 0", 30)  # the SDK's first use

    if only & {1, 2, 3, 4, 5, 7, 8, 10, 11}:
        name = {"memory": "in-memory", "pubsub": PUBSUB, "core": CORE}[bench.layer]
        print(f"• one {site.SERVER} process, {name} channel layer", flush=True)
        (server,) = start_site(bench, 1, layer_env(bench.layer), bench.layer)
        try:
            rss_fresh = server.rss_mb()
            await warm_up(bench, [server.origin])
            await asyncio.sleep(1)
            rss_rest = server.rss_mb()
            figures = [
                (1, bench.fig1_latency),
                (2, bench.fig2_ttft),
                (3, bench.fig3_throughput),
                (4, bench.fig4_burst),
            ]
            for number, figure in figures:
                if number in only:
                    print(f"  figure {number}", flush=True)
                    await figure(server.origin)
            if 11 in only:
                print("  figure 11", flush=True)
                await fig11_api(bench, server.origin)
            if 7 in only:
                print("  figure 7", flush=True)
                await bench.fig7_cpu(server)
            if 10 in only:
                print("  figure 10", flush=True)
                await bench.fig10_page(server.origin, long_id, empty_id)
            if 5 in only:
                print("  figure 5", flush=True)
                res = await bench.ladder([server.origin], bench.baseline_p99())
                bench.results["5_max_streams_1_process"] = res
                bench.row(
                    "5 max streams @20 tok/s, 1 process (p99 +≤100 ms, no loss)",
                    res["largest_passing"],
                    _rig_text(res),
                    "",
                    "(largest)",
                    None,
                    "streams",
                )
            await asyncio.sleep(1)
            if 8 in only:
                res = {
                    "rss_mb_fresh": round(rss_fresh, 1),
                    "rss_mb_after_warm_up": round(rss_rest, 1),
                    "rss_mb_after_load": round(server.rss_mb(), 1),
                }
                bench.results["8_rss"] = res
                bench.row(
                    "8 server RSS at rest (after one reply; after all load)",
                    res["rss_mb_after_warm_up"],
                    "",
                    f"{res['rss_mb_after_load']} after load",
                    "≤ 150",
                    res["rss_mb_after_warm_up"] <= 150,
                    "MB",
                )
        finally:
            server.stop()

    if "4pg" in only:
        print(f"• figure 4 on PostgreSQL, one {site.SERVER} process", flush=True)
        await bench.fig4_on_postgres()

    if "7b" in only:
        print("• figure 7b: live formatting on and off, one process each", flush=True)
        extra = layer_env(bench.layer)
        (live,) = start_site(bench, 1, {**extra, "CHAT_LIVE_FORMAT": "true"}, "live")
        (plain,) = start_site(bench, 1, {**extra, "CHAT_LIVE_FORMAT": "false"}, "plain")
        try:
            await warm_up(bench, [live.origin, plain.origin])
            await bench.fig7b_live_format(live, plain)
        finally:
            live.stop()
            plain.stop()

    if 12 in only:
        print("• figure 12: the local model, site and direct in turn", flush=True)
        extra = local_env(bench.sizes.local_tokens, bench.local_threads)
        (server,) = start_site(bench, 1, extra, "local")
        direct = DirectReader({**bench.env, **extra}, bench.workdir / "direct.log")
        try:
            await fig12_local(bench, server, direct, bench.local_threads)
        finally:
            server.stop()
            direct.stop()

    if 6 in only:
        for backend in (PUBSUB, CORE):
            short = backend.rsplit(".", 1)[1]
            print(f"• two {site.SERVER} processes, {short}, PostgreSQL", flush=True)
            # On PostgreSQL, as several processes are deployed: two processes on
            # one SQLite file take turns at its write lock.
            async with bench.on_postgres() as database:
                extra = {**layer_env("pubsub" if backend == PUBSUB else "core")}
                servers = start_site(bench, 2, {**extra, **database}, short)
                try:
                    origins = [s.origin for s in servers]
                    await warm_up(bench, origins)
                    res = await bench.ladder(origins, bench.baseline_p99())
                finally:
                    for server in servers:
                        server.stop()
            bench.results[f"6_max_streams_2_processes_{short}"] = res
            bench.row(
                f"6 max streams @20 tok/s, 2 processes, {short}",
                res["largest_passing"],
                _rig_text(res),
                "",
                "(largest)",
                None,
                "streams",
            )


def _rig_text(res: dict) -> str:
    rig = res.get("rig_check")
    if not rig:
        return ""
    return f"rig@{rig['streams']}: p99 {rig['p99_ms']} ms"


def fig9_queries(bench: Bench) -> None:
    print("• figure 9 (in-process)", flush=True)
    out = subprocess.run(
        [sys.executable, "-m", "bench.inproc"],
        cwd=site.ROOT,
        env=bench.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.inproc failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    bench.results["9_queries"] = res
    short, long = res["reply_10"], res["reply_5000"]
    checkpoints = int(long["seconds"] // res["checkpoint_s"])
    bench.row(
        "9 DB queries per reply: 5,000 tokens (10 tokens as baseline)",
        long["queries"],
        short["queries"],
        f"+{long['queries'] - short['queries']} ({long['seconds']} s)",
        f"= (+1/checkpoint: {checkpoints})",
        long["queries"] - short["queries"] <= checkpoints,
        "queries",
    )
    bench.row(
        "9b DB queries for the 500-message page",
        res["page_500_queries"],
        "",
        "",
        "constant",
        None,
        "queries",
    )


def print_table(rows) -> str:
    header = ("figure", "site", "baseline", "ratio/delta", "target", "ok")
    lines = []
    table = [header]
    for figure, value, baseline, delta, target, passed, unit in rows:
        ok = "" if passed is None else ("yes" if passed else "MISS")
        table.append(
            (
                figure,
                f"{value} {unit}".strip(),
                str(baseline),
                str(delta),
                target,
                ok,
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        lines.append(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            lines.append("-|-".join("-" * w for w in widths))
    text = "\n".join(lines)
    print(text)
    return text


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (~1 min)")
    parser.add_argument(
        "--flush-ms", type=int, help="CHAT_FLUSH_MS for the site (default: its own)"
    )
    parser.add_argument(
        "--only",
        help="comma-separated figures, e.g. 1,7,7b; 4pg is figure 4 on PostgreSQL "
        "(default: all 1-12, 4pg, 7b)",
    )
    parser.add_argument(
        "--local-threads",
        type=int,
        help="figure 12: CHAT_LOCAL_THREADS of the site and the direct reader",
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/chatbench"
        ),
        help="figures 4pg and 6: a scratch PostgreSQL database, dropped and created "
        "(default: $BENCH_PG_URL or %(default)s)",
    )
    parser.add_argument("--tag", default="", help="a label stored with the results")
    parser.add_argument(
        "--site-root", help="run the site from another checkout (to try a change)"
    )
    add_server_arguments(parser)
    parser.add_argument(
        "--layer",
        choices=["memory", "pubsub", "core"],
        default="memory",
        help="channel layer of the one-process figures (1-5, 7, 8, 10)",
    )
    args = parser.parse_args(argv)
    use_server_arguments(args)
    every = {*range(1, 13), "4pg", "7b"}
    only = (
        {int(x) if x.isdigit() else x for x in args.only.split(",")}
        if args.only
        else every
    )
    sizes = QUICK if args.quick else FULL
    if args.site_root:
        site.ROOT = Path(args.site_root).resolve()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = Path(tempfile.mkdtemp(prefix=f"chatbench-{stamp}-"))
    began = time.monotonic()
    load_before = os.getloadavg()
    upstream, url = start_process(workdir, "bench.upstream", "--port", "0")
    try:
        extra = {}
        if args.flush_ms is not None:
            extra["CHAT_FLUSH_MS"] = str(args.flush_ms)
        env = site.site_env(
            db_path=str(workdir / "bench.sqlite3"), upstream_url=url, extra=extra
        )
        site.migrate(env)
        databases = {}
        if "4pg" in only or 6 in only:
            site.create_postgres(args.pg_url)
            site.migrate({**env, "DATABASE_URL": args.pg_url})
            databases["postgres"] = args.pg_url
        site.setup_django(env, databases)
        from django.conf import settings

        bench = Bench(sizes=sizes, upstream_url=url, env=env, workdir=workdir)
        bench.layer = args.layer
        bench.local_threads = args.local_threads
        bench.pg_url = args.pg_url
        bench.user = site.make_user("bench")
        bench.cookie = site.session_cookie(bench.user)
        page_user = site.make_user("bench-page")
        bench.page_cookie = site.session_cookie(page_user)
        long_id = site.make_long_conversation(page_user, 500)
        empty_id = site.make_conversations(page_user, 1)[0]
        asyncio.run(run_all(bench, only, long_id, empty_id))
        if 9 in only:
            fig9_queries(bench)
    finally:
        upstream.terminate()
        upstream.wait(10)
    elapsed = time.monotonic() - began
    print()
    table = print_table(bench.rows)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{stamp}.json"
    versions = {}
    for name in (
        "django",
        "channels",
        "daphne",
        "uvicorn",
        "uvloop",
        "httptools",
        "websockets",
        "wsproto",
        "channels_redis",
        "openai",
    ):
        try:
            from importlib.metadata import version

            versions[name] = version(name.replace("_", "-"))
        except Exception:
            versions[name] = None
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "quick": args.quick,
                "tag": args.tag,
                "site_root": str(site.ROOT),
                "server": site.server_label(),
                "layer": args.layer,
                "elapsed_s": round(elapsed, 1),
                "chat_flush_ms": settings.CHAT_FLUSH_MS,
                "chat_checkpoint_s": settings.CHAT_CHECKPOINT_S,
                "loadavg_before_after": [load_before, os.getloadavg()],
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                },
                "versions": versions,
                "figures": bench.results,
                "table": table,
            },
            indent=2,
        )
    )
    print(f"\n{elapsed:.0f} s; results: {out}; logs: {workdir}")


if __name__ == "__main__":
    main()
