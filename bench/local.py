"""Figure 12: the local model (llama.cpp in the server process) through the site,
beside the same model read directly in a process of its own.

    .venv/bin/python -m bench.run --only 12 [--local-threads N]

The direct reader is this module run as a process (`python -m bench.local`): it
loads the same GGUF with the site's settings (same environment: n_threads, n_ctx,
seed), applies the same chat template to the same one message and streams
`LoadedModel.completion`, the call the provider makes, with no thread, queue or
event loop around it. It waits on stdin between generations, and the server is
idle between replies, so the two never generate at once (llama.cpp uses every
thread it is given). Rounds alternate which side goes first; medians are reported.

Tokens are counted the way the site stores them (`completion_tokens`: the answer's
text tokenized again), on both sides; tokens/s = tokens / (last text - send).
"""

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from asgiref.sync import sync_to_async

from bench import site

# A new prompt each round (the same on both sides): llama.cpp reads it anew, as it
# would a person's message, rather than finding it in its cache.
PROMPT = "Write a long story about a lighthouse keeper and the sea, number {}."
SEED = "1234"  # the same seed on both sides: the same tokens


def local_env(tokens: int, threads: int | None) -> dict:
    """The site's environment for the local model (also the direct reader's)."""
    extra = {
        "CHAT_PROVIDER": "local",
        "CHAT_MODEL": "",
        "CHAT_LOCAL_MAX_TOKENS": str(tokens),
        "CHAT_LOCAL_SEED": SEED,
    }
    if threads is not None:
        extra["CHAT_LOCAL_THREADS"] = str(threads)
    return extra


class DirectReader:
    """The direct reader process: one generation per request line."""

    def __init__(self, env: dict, log_path: Path):
        self.log = open(log_path, "ab")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.local"],
            cwd=site.ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        ready = self.proc.stdout.readline()
        if not ready.startswith("ready"):
            self.stop()
            raise RuntimeError(f"bench.local did not start: {ready!r}")

    def generate(self, content: str) -> dict:
        self.proc.stdin.write(json.dumps({"content": content}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        self.log.close()


def stored_answer(message_id: int) -> tuple[str, int]:
    from chat.models import Message

    answer = Message.objects.values_list("content", "completion_tokens")
    return answer.get(pk=message_id)


async def site_generate(bench, server: site.Server, content: str) -> dict:
    (sock,) = await bench.open_sockets([server.origin], 1)
    cpu_before = server.cpu_seconds()
    reply = await sock.reply(content, 120, stamped=False)
    cpu_s = server.cpu_seconds() - cpu_before
    await sock.close()
    if reply.status != "complete":
        raise RuntimeError(f"local reply ended {reply.status}: {reply.error}")
    text, tokens = await sync_to_async(stored_answer)(reply.message_id)
    return {
        "ttft_ms": (reply.first_text_ns - reply.start_ns) / 1e6,
        "seconds": (reply.last_text_ns - reply.start_ns) / 1e9,
        "tokens": tokens,
        "text": text,
        "cpu_s": cpu_s,
    }


async def fig12_local(
    bench, server: site.Server, direct: DirectReader, threads: int | None
) -> None:
    from bench.run import rnd

    await site_generate(bench, server, "Hello")  # the site loads its model
    await asyncio.to_thread(direct.generate, "Hello")
    runs = {"site": [], "direct": []}
    for i in range(bench.sizes.local_rounds):
        sides = ("direct", "site") if i % 2 == 0 else ("site", "direct")
        for side in sides:
            if side == "site":
                run = await site_generate(bench, server, PROMPT.format(i))
            else:
                run = await asyncio.to_thread(direct.generate, PROMPT.format(i))
            run["tokens_per_s"] = run["tokens"] / run["seconds"]
            runs[side].append(run)
            await asyncio.sleep(0.5)  # the answer is stored and rendered: idle again

    def median(side, key):
        return statistics.median(run[key] for run in runs[side])

    site_rate = median("site", "tokens_per_s")
    direct_rate = median("direct", "tokens_per_s")
    added_ttft = median("site", "ttft_ms") - median("direct", "ttft_ms")
    res = {
        "rounds": bench.sizes.local_rounds,
        "threads": "default" if threads is None else threads,
        "site_tokens": [run["tokens"] for run in runs["site"]],
        "direct_tokens": [run["tokens"] for run in runs["direct"]],
        "same_answer": all(
            s["text"].strip() == d["text"].strip()
            for s, d in zip(runs["site"], runs["direct"], strict=True)
        ),
        "site_tokens_per_s": [round(run["tokens_per_s"], 1) for run in runs["site"]],
        "direct_tokens_per_s": [
            round(run["tokens_per_s"], 1) for run in runs["direct"]
        ],
        "site_ttft_ms": [rnd(run["ttft_ms"]) for run in runs["site"]],
        "direct_ttft_ms": [rnd(run["ttft_ms"]) for run in runs["direct"]],
        "site_cpu_s": [rnd(run["cpu_s"]) for run in runs["site"]],
        "direct_cpu_s": [rnd(run["cpu_s"]) for run in runs["direct"]],
        "site_tokens_per_s_median": round(site_rate, 1),
        "direct_tokens_per_s_median": round(direct_rate, 1),
        "ratio": round(site_rate / direct_rate, 3),
        "added_ttft_ms": rnd(added_ttft),
    }
    bench.results["12_local_model"] = res
    bench.row(
        f"12 local model, answers of ≤{bench.sizes.local_tokens} tokens: tokens/s",
        res["site_tokens_per_s_median"],
        res["direct_tokens_per_s_median"],
        f"x{res['ratio']:.2f}",
        "≥ x0.95",
        res["ratio"] >= 0.95,
        "tok/s",
    )
    bench.row(
        "12 local model: time to first token added",
        rnd(median("site", "ttft_ms")),
        rnd(median("direct", "ttft_ms")),
        f"+{added_ttft:.1f}",
        "≤ +20",
        added_ttft <= 20,
        "ms",
    )


def serve_generations() -> None:
    """The direct reader: load the model, then one generation per stdin line."""
    import django

    django.setup()
    from chat.providers.local import LoadedModel, LocalProvider, model_path

    loaded = LoadedModel(model_path())
    max_tokens = LocalProvider().max_answer_tokens()
    print("ready", flush=True)
    for line in sys.stdin:
        messages = [{"role": "user", "content": json.loads(line)["content"]}]
        started, cpu_before = time.perf_counter(), time.process_time()
        prompt, stop = loaded.tokens(messages)
        first = last = None
        parts = []
        for chunk in loaded.completion(prompt, stop, max_tokens):
            text = chunk["choices"][0]["text"]
            if text:
                last = time.perf_counter()
                first = first or last
                parts.append(text)
        text = "".join(parts)
        result = {
            "ttft_ms": (first - started) * 1000,
            "seconds": last - started,
            "tokens": loaded.count(text),
            "text": text,
            "cpu_s": time.process_time() - cpu_before,
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    serve_generations()
