"""Compare channels_redis layers for this site's traffic: many small group sends.

    .venv/bin/python -m bench.layers [--redis redis://127.0.0.1:6379/0]

A receiver process holds SOCKETS channels, one per conversation group, each read by
its own task as a consumer's would be; a sender process (another server) group-sends
MESSAGES deltas round-robin over the groups, WINDOW at a time. Prints, for each
layer, the sender's rate, the receiver's rate and how many messages were lost.
"""

import argparse
import asyncio
import logging
import multiprocessing
import time

LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


def make_layer(kind: str, redis: str, prefix: str, capacity: int):
    host = {"address": redis, "socket_timeout": 30}
    if kind == "core":
        from channels_redis.core import RedisChannelLayer

        return RedisChannelLayer(hosts=[host], prefix=prefix, capacity=capacity)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[host], prefix=prefix)


async def _receive(kind, redis, prefix, capacity, sockets, ready, result):
    layer = make_layer(kind, redis, prefix, capacity)
    counts = [0] * sockets
    last = [time.monotonic()]
    first = [None]

    async def consumer(index: int, channel: str) -> None:
        while True:
            await layer.receive(channel)
            now = time.monotonic()
            first[0] = first[0] or now
            last[0] = now
            counts[index] += 1

    tasks = []
    for index in range(sockets):
        channel = await layer.new_channel()
        await layer.group_add(f"bench.{index}", channel)
        tasks.append(asyncio.create_task(consumer(index, channel)))
    ready.set()
    # Done when nothing arrived for two seconds after the first message.
    while first[0] is None or time.monotonic() - last[0] < 2:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    for task in tasks:
        task.cancel()
    result.put((sum(counts), first[0], last[0]))


def receiver(*args):
    # Cancelling pub/sub receives at the end logs clean-up noise; it is harmless.
    logging.getLogger("channels_redis").setLevel(logging.CRITICAL)
    asyncio.run(_receive(*args))


async def _send(kind, redis, prefix, capacity, sockets, messages, window):
    layer = make_layer(kind, redis, prefix, capacity)
    sent = 0

    async def one(i: int) -> None:
        event = {"type": "chat.frame", "frame": f'{{"offset":{i},"text":"tok{i} "}}'}
        await layer.group_send(f"bench.{i % sockets}", event)

    started = time.monotonic()
    while sent < messages:
        batch = range(sent, min(sent + window, messages))
        await asyncio.gather(*(one(i) for i in batch))
        sent += len(batch)
    return started, time.monotonic()


def run(kind, redis, sockets, messages, window, capacity):
    prefix = f"bench{int(time.time() * 1000)}"
    ctx = multiprocessing.get_context("spawn")
    ready, result = ctx.Event(), ctx.Queue()
    args = (kind, redis, prefix, capacity, sockets, ready, result)
    process = ctx.Process(target=receiver, args=args)
    process.start()
    ready.wait(30)
    started, ended = asyncio.run(
        _send(kind, redis, prefix, capacity, sockets, messages, window)
    )
    received, _first, last = result.get(timeout=120)
    process.join(10)
    send_rate = messages / (ended - started)
    receive_rate = received / max(last - started, 1e-9)
    print(
        f"{kind:7} sockets={sockets:4} sent={messages} "
        f"send={send_rate:7.0f}/s receive={receive_rate:7.0f}/s "
        f"lost={messages - received}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=5000)
    parser.add_argument("--sockets", type=int, nargs="+", default=[10, 100])
    options = parser.parse_args()
    for sockets in options.sockets:
        for kind in LAYERS:
            run(
                kind,
                options.redis,
                sockets,
                options.messages,
                options.window,
                options.capacity,
            )


if __name__ == "__main__":
    main()
