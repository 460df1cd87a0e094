"""Channel-layer chores that differ between layers."""

import asyncio
import contextlib


async def forget_channel(layer, channel: str) -> None:
    """Let the layer drop a channel nobody will read again.

    The pub/sub layer keeps a channel subscribed until a receive on it is
    cancelled; without this every reply (and every health check) would leave a
    Redis subscription behind. The other layers forget channels by themselves.
    """
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if isinstance(layer, RedisPubSubChannelLayer):
        waiter = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
