"""The cost of the metrics hooks per frame, against the frame's own work.

    .venv/bin/python -m bench.metrics [--tokens 3]

For each storage of prometheus_client (in memory: one process; files: with
PROMETHEUS_MULTIPROC_DIR) a fresh process times, with timeit (best of 7):

- baseline: what the run already does per frame without metrics: `--tokens`
  deltas taken by a Part, then the frame built (`Part.take`, `wire.frame`);
- layer: the same frame group-sent through the in-memory channel layer to one
  socket's channel and received there (the least a frame costs on its way);
- hook: `chat.metrics.frame_sent` (what the run adds per frame);
- per token: a counter increment and a histogram observation for each delta,
  the design not chosen.

Prints microseconds per frame and the hook's cost as a share of the baseline.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit

NUMBER = 20_000
REPEAT = 7


def measure(tokens: int) -> dict:
    """Run in the child: µs per frame of each variant."""
    import django

    django.setup()
    from chat import metrics
    from chat.replies import wire
    from chat.replies.parts import Part

    part = Part(wire.ANSWER, window_s=0.03, quiet_s=0.005)
    clock = [0.0]

    def baseline():
        now = clock[0] = clock[0] + 0.001
        for _ in range(tokens):
            part.arrived("tok ", now)
        wire.frame(part.take(7, now))

    def hook():
        metrics.frame_sent(tokens, 0.0)

    def per_token():
        for _ in range(tokens):
            metrics.TOKENS_RELAYED.inc()
            metrics.FRAME_ADDED_LATENCY.observe(0.004)

    def best(fn) -> float:
        runs = timeit.repeat(fn, number=NUMBER, repeat=REPEAT)
        return min(runs) / NUMBER * 1e6

    return {
        "baseline": best(baseline),
        "layer": through_layer(),
        "hook": best(hook),
        "per_token": best(per_token),
    }


def through_layer() -> float:
    """µs per frame group-sent and received through the in-memory layer."""
    import asyncio

    from channels.layers import InMemoryChannelLayer

    from chat.replies import wire

    async def frames() -> float:
        layer = InMemoryChannelLayer()
        channel = await layer.new_channel()
        await layer.group_add("chat.conversation.7", channel)
        event = wire.frame_event(wire.delta_payload(7, wire.ANSWER, 0, "tok tok tok "))
        runs = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            for _ in range(NUMBER // 10):
                await layer.group_send("chat.conversation.7", event)
                await layer.receive(channel)
            runs.append((time.perf_counter() - started) / (NUMBER // 10))
        return min(runs) * 1e6

    return asyncio.run(frames())


def child(env_extra: dict, tokens: int) -> dict:
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "chatsite.settings", "DEBUG": "true"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-m", "bench.metrics", "--child", "--tokens", str(tokens)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=3, help="deltas per frame")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.tokens)))
        return
    with tempfile.TemporaryDirectory(prefix="chatbench-metrics-") as files:
        modes = {
            "in memory": child({}, args.tokens),
            "files (multiprocess)": child(
                {"PROMETHEUS_MULTIPROC_DIR": files}, args.tokens
            ),
        }
    print(f"µs per frame of {args.tokens} deltas (best of {REPEAT} runs of {NUMBER:,})")
    print(
        f"{'storage':<22}{'baseline':>10}{'layer':>8}{'hook':>8}"
        f"{'hook/(baseline+layer)':>23}{'per token':>11}"
    )
    for name, r in modes.items():
        share = r["hook"] / (r["baseline"] + r["layer"])
        print(
            f"{name:<22}{r['baseline']:>10.2f}{r['layer']:>8.2f}{r['hook']:>8.2f}"
            f"{share:>23.0%}{r['per_token']:>11.2f}"
        )


if __name__ == "__main__":
    main()
