"""Figure 11: /v1/chat/completions streamed through the site, beside the upstream.

The client is the same `openai.AsyncOpenAI` reader (`clients.direct_reply`) on
both sides: once with the site's /v1 and a personal token as its base URL and
key, once with the upstream's. "Added" = site - direct, in the same run.
"""

import statistics

from asgiref.sync import sync_to_async

from bench.clients import direct_reply


def _make_token(user) -> str:
    from chat.api.tokens import create_token

    return create_token(user, name="bench")[1]


async def fig11_api(bench, origin: str) -> None:
    import openai

    token = await sync_to_async(_make_token)(bench.user)
    through_site = openai.AsyncOpenAI(
        base_url=f"{origin}/v1", api_key=token, max_retries=0, timeout=60
    )
    direct = bench.openai_client
    sizes = bench.sizes
    await direct_reply(through_site, "bench 5 0", 30)  # warm the path

    n = sizes.latency_tokens
    site_reply = await direct_reply(through_site, f"bench {n} 50", n / 50 + 30)
    direct_reply_ = await direct_reply(direct, f"bench {n} 50", n / 50 + 30)
    site_ms = [ns / 1e6 for ns in site_reply.stamps.latencies]
    direct_ms = [ns / 1e6 for ns in direct_reply_.stamps.latencies]

    site_ttft, direct_ttft = [], []
    for _ in range(sizes.ttft_trials):
        site_ttft.append((await direct_reply(through_site, "bench 3 0", 30)).ttft_ms)
        direct_ttft.append((await direct_reply(direct, "bench 3 0", 30)).ttft_ms)

    fast = sizes.fast_tokens
    site_rates, direct_rates, lost = [], [], 0
    for _ in range(sizes.fast_trials):
        reply = await direct_reply(through_site, f"bench {fast} 0", 60)
        lost += fast - reply.stamps.tokens
        site_rates.append(reply.stamps.tokens / reply.duration_s)
        reply = await direct_reply(direct, f"bench {fast} 0", 60)
        direct_rates.append(reply.stamps.tokens / reply.duration_s)
    await through_site.close()

    from bench.run import pct, rnd

    res = {
        "tokens": n,
        "site_tokens": site_reply.stamps.tokens,
        "site_p50_ms": rnd(pct(site_ms, 0.5), 3),
        "site_p99_ms": rnd(pct(site_ms, 0.99), 3),
        "direct_p50_ms": rnd(pct(direct_ms, 0.5), 3),
        "direct_p99_ms": rnd(pct(direct_ms, 0.99), 3),
        "ttft_trials": len(site_ttft),
        "site_ttft_p50_ms": rnd(statistics.median(site_ttft), 2),
        "direct_ttft_p50_ms": rnd(statistics.median(direct_ttft), 2),
        "fast_tokens": fast,
        "site_tokens_per_s": round(statistics.median(site_rates)),
        "direct_tokens_per_s": round(statistics.median(direct_rates)),
        "tokens_lost": lost,
    }
    res["added_p50_ms"] = rnd(res["site_p50_ms"] - res["direct_p50_ms"], 3)
    res["added_p99_ms"] = rnd(res["site_p99_ms"] - res["direct_p99_ms"], 3)
    res["added_ttft_ms"] = rnd(res["site_ttft_p50_ms"] - res["direct_ttft_p50_ms"], 2)
    res["ratio"] = round(res["site_tokens_per_s"] / res["direct_tokens_per_s"], 3)
    bench.results["11_api"] = res
    for label, key, target, limit in (
        ("p50", "p50", "≤ +2", 2),
        ("p99", "p99", "≤ +5", 5),
    ):
        bench.row(
            f"11 /v1 stream: added latency/token {label} (50 tok/s)",
            res[f"site_{key}_ms"],
            res[f"direct_{key}_ms"],
            f"+{res[f'added_{key}_ms']:.2f}",
            target,
            res[f"added_{key}_ms"] <= limit,
            "ms",
        )
    bench.row(
        "11 /v1 stream: time to first token p50",
        res["site_ttft_p50_ms"],
        res["direct_ttft_p50_ms"],
        f"+{res['added_ttft_ms']:.1f}",
        "≤ +15",
        res["added_ttft_ms"] <= 15,
        "ms",
    )
    bench.row(
        f"11 /v1 one stream, fastest ({fast} tokens): tokens/s",
        res["site_tokens_per_s"],
        res["direct_tokens_per_s"],
        f"x{res['ratio']:.2f}",
        "(ratio)",
        None if lost == 0 else False,  # no target: a ratio to watch
        "tok/s",
    )
